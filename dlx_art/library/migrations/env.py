"""Alembic environment: always runs on a connection handed over by `dlx_art.library.db`."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import dlx_art.library.models  # noqa: F401 - declares the catalog's tables in SQLModel.metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only for `alembic` run by hand
    from sqlalchemy import create_engine

    url = context.config.get_main_option("sqlalchemy.url") or "sqlite:///library.sqlite3"
    connection = create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things in place
    version_table="alembic_version",
)
with context.begin_transaction():
    context.run_migrations()
