"""The catalog's SQLAlchemy tables, loaded on first use.

SQLAlchemy and the SQLModel classes cost about a second to import, so nothing imports them at
start-up: every read uses plain sqlite3, and the first write (or migration) calls `tables()`,
which imports them once. Writers import the SQL constructs they use (`from sqlalchemy import
insert`) inside the method, after this.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from sqlalchemy import Table

__all__ = ["Tables", "tables"]


class Tables(NamedTuple):
    """The catalog's tables (`models.ArtAsset`, `models.Project`) as SQLAlchemy Core tables."""

    asset: Table
    project: Table


@functools.cache
def tables() -> Tables:
    """The catalog's tables; the first call imports SQLAlchemy and the models."""
    from sqlmodel import SQLModel

    import dlx_art.library.models  # noqa: F401 - declares the catalog's tables

    declared = SQLModel.metadata.tables
    return Tables(declared["ArtAsset"], declared["Project"])
