"""The catalog tables, laid out exactly as Prisma lays out the suite's schema on SQLite.

`Project` and `ArtAsset` keep Prisma's table and column names (camelCase), declared types
(TEXT, BIGINT, INTEGER, REAL, BOOLEAN, DATETIME) and value formats (DateTime as ISO 8601 UTC text
with milliseconds and `+00:00`; booleans 1/0), so that the suite's other studios can read and
write the same file with Prisma. Columns the studio adds are all nullable or have SQL defaults.

These classes are the one description of the catalog: the foreign key, SQL defaults and indexes
are declared here too, and tests/unit/test_schema.py checks that the migrations build exactly
this (and that the `records` below carry exactly these columns).

The GUI and the command line never see these ORM rows: they get the frozen `ProjectInfo` and
`AssetInfo` records below, which are safe to pass between threads.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import REAL, BigInteger, Boolean, Column, ForeignKey, Index, Integer, Text, text
from sqlalchemy.types import TypeDecorator, UserDefinedType
from sqlmodel import Field, SQLModel

from dlx_art.library.records import (  # noqa: F401 - re-exported for existing importers
    ASSET_COLUMNS,
    PROJECT_COLUMNS,
    AssetInfo,
    ProjectInfo,
    format_datetime,
    new_id,
    parse_datetime,
    utc_now,
)


class _Declared(UserDefinedType[Any]):
    """A column type that only declares a SQL type name and passes values through."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_: Any) -> str:
        return self.name


class PrismaDateTime(TypeDecorator[datetime]):
    """DATETIME column holding ISO 8601 UTC text with milliseconds and `+00:00`."""

    impl = _Declared
    cache_ok = True

    def __init__(self) -> None:
        super().__init__("DATETIME")

    def process_bind_param(self, value: datetime | None, dialect: Any) -> str | None:
        return None if value is None else format_datetime(value)

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        return parse_datetime(value)


class Project(SQLModel, table=True):
    __tablename__ = "Project"
    __table_args__ = (
        Index("Project_nameKey_key", "nameKey", unique=True),
        Index("Project_folder_key", "folder", unique=True),
    )

    id: str = Field(default_factory=new_id, sa_column=Column("id", Text, primary_key=True))
    name: str = Field(sa_column=Column("name", Text, nullable=False))
    description: str | None = Field(default=None, sa_column=Column("description", Text))
    type: str = Field(default="art", sa_column=Column("type", Text, nullable=False))
    status: str = Field(default="active", sa_column=Column("status", Text, nullable=False))
    createdAt: datetime = Field(
        default_factory=utc_now, sa_column=Column("createdAt", PrismaDateTime(), nullable=False,
                                                  server_default=text("CURRENT_TIMESTAMP"))
    )
    updatedAt: datetime = Field(
        default_factory=utc_now, sa_column=Column("updatedAt", PrismaDateTime(), nullable=False)
    )
    # --- studio extras (nullable) ---
    folder: str | None = Field(default=None, sa_column=Column("folder", Text))
    nameKey: str | None = Field(default=None, sa_column=Column("nameKey", Text))
    lastOpenedAt: datetime | None = Field(
        default=None, sa_column=Column("lastOpenedAt", PrismaDateTime())
    )


class ArtAsset(SQLModel, table=True):
    __tablename__ = "ArtAsset"

    id: str = Field(default_factory=new_id, sa_column=Column("id", Text, primary_key=True))
    projectId: str | None = Field(default=None, sa_column=Column(
        "projectId", Text,
        ForeignKey("Project.id", name="ArtAsset_projectId_fkey", ondelete="SET NULL",
                   onupdate="CASCADE")))
    filePath: str = Field(sa_column=Column("filePath", Text, nullable=False))
    fileType: str = Field(default="png", sa_column=Column("fileType", Text, nullable=False))
    prompt: str = Field(default="", sa_column=Column("prompt", Text, nullable=False))
    negative: str | None = Field(default=None, sa_column=Column("negative", Text))
    model: str = Field(default="", sa_column=Column("model", Text, nullable=False))
    seed: int | None = Field(default=None, sa_column=Column("seed", BigInteger))
    steps: int | None = Field(default=None, sa_column=Column("steps", Integer))
    cfgScale: float | None = Field(default=None, sa_column=Column("cfgScale", REAL))
    parentId: str | None = Field(default=None, sa_column=Column("parentId", Text))
    isFavorite: bool = Field(
        default=False, sa_column=Column("isFavorite", Boolean(create_constraint=False),
                                        nullable=False, server_default=text("false"))
    )
    createdAt: datetime = Field(
        default_factory=utc_now, sa_column=Column("createdAt", PrismaDateTime(), nullable=False,
                                                  server_default=text("CURRENT_TIMESTAMP"))
    )
    # --- studio extras (nullable or with SQL defaults) ---
    kind: str | None = Field(default=None, sa_column=Column("kind", Text))
    width: int | None = Field(default=None, sa_column=Column("width", Integer))
    height: int | None = Field(default=None, sa_column=Column("height", Integer))
    sampler: str | None = Field(default=None, sa_column=Column("sampler", Text))
    scheduler: str | None = Field(default=None, sa_column=Column("scheduler", Text))
    denoisingStrength: float | None = Field(
        default=None, sa_column=Column("denoisingStrength", REAL)
    )
    maskPath: str | None = Field(default=None, sa_column=Column("maskPath", Text))
    backend: str | None = Field(default=None, sa_column=Column("backend", Text))
    backendReason: str | None = Field(default=None, sa_column=Column("backendReason", Text))
    infotext: str | None = Field(default=None, sa_column=Column("infotext", Text))
    fileSize: int | None = Field(default=None, sa_column=Column("fileSize", Integer))
    contentHash: str | None = Field(default=None, sa_column=Column("contentHash", Text))
    trashedAt: datetime | None = Field(
        default=None, sa_column=Column("trashedAt", PrismaDateTime())
    )
    approximate: bool = Field(
        default=False, sa_column=Column("approximate", Boolean(create_constraint=False),
                                        nullable=False, server_default=text("0"))
    )
    missingAt: datetime | None = Field(
        default=None, sa_column=Column("missingAt", PrismaDateTime())
    )


# The gallery's indexes (migrations 0002 and 0004). `trashedAt` follows the equality columns,
# so "live rows of a project, newest first" reads the index in order; no index has a WHERE
# clause, which Prisma's schema engine cannot describe through better-sqlite3 (see 0004).
_asset = SQLModel.metadata.tables["ArtAsset"].c
Index("ArtAsset_gallery_idx", _asset.projectId, _asset.trashedAt, _asset.createdAt.desc(),
      _asset.id.desc())
Index("ArtAsset_favorites_idx", _asset.projectId, _asset.isFavorite, _asset.trashedAt,
      _asset.createdAt.desc(), _asset.id.desc())
Index("ArtAsset_trash_idx", _asset.trashedAt)
Index("ArtAsset_parentId_idx", _asset.parentId)
Index("ArtAsset_filePath_idx", _asset.filePath)
Index("ArtAsset_contentHash_idx", _asset.contentHash)
del _asset


class StudioJob(SQLModel, table=True):
    """A job in the durable queue (see `dlx_art.library.jobs`); a studio table Prisma ignores.

    `request`, `progressInfo` and `resultAssetIds` hold JSON text.
    """

    __tablename__ = "StudioJob"
    __table_args__ = (Index("StudioJob_state_idx", "state"),
                      Index("StudioJob_updatedAt_idx", "updatedAt"))

    id: str = Field(default_factory=new_id, sa_column=Column("id", Text, primary_key=True))
    kind: str = Field(sa_column=Column("kind", Text, nullable=False))
    request: str = Field(sa_column=Column("request", Text, nullable=False))
    projectId: str | None = Field(default=None, sa_column=Column("projectId", Text))
    origin: str = Field(sa_column=Column("origin", Text, nullable=False))
    state: str = Field(default="queued", sa_column=Column("state", Text, nullable=False))
    progress: float = Field(
        default=0.0, sa_column=Column("progress", REAL, nullable=False, server_default=text("0"))
    )
    progressInfo: str | None = Field(default=None, sa_column=Column("progressInfo", Text))
    createdAt: datetime = Field(
        default_factory=utc_now, sa_column=Column("createdAt", PrismaDateTime(), nullable=False)
    )
    startedAt: datetime | None = Field(default=None,
                                       sa_column=Column("startedAt", PrismaDateTime()))
    finishedAt: datetime | None = Field(default=None,
                                        sa_column=Column("finishedAt", PrismaDateTime()))
    updatedAt: datetime = Field(
        default_factory=utc_now, sa_column=Column("updatedAt", PrismaDateTime(), nullable=False)
    )
    error: str | None = Field(default=None, sa_column=Column("error", Text))
    errorKind: str | None = Field(default=None, sa_column=Column("errorKind", Text))
    exitCode: int | None = Field(default=None, sa_column=Column("exitCode", Integer))
    resultAssetIds: str | None = Field(default=None, sa_column=Column("resultAssetIds", Text))
    backend: str | None = Field(default=None, sa_column=Column("backend", Text))
    fallbackReason: str | None = Field(default=None, sa_column=Column("fallbackReason", Text))
    attempts: int = Field(
        default=0, sa_column=Column("attempts", Integer, nullable=False, server_default=text("0"))
    )
    runner: str | None = Field(default=None, sa_column=Column("runner", Text))
    cancelRequested: bool = Field(
        default=False, sa_column=Column("cancelRequested", Boolean(create_constraint=False),
                                        nullable=False, server_default=text("0"))
    )


class StudioChange(SQLModel, table=True):
    """The change log read by `dlx_art.library.changes`, filled by triggers (migration 0003).

    One row per inserted, updated or deleted row of `ArtAsset`, `Project` and `StudioJob`,
    whoever wrote it; only the latest entries are kept.
    """

    __tablename__ = "StudioChange"
    __table_args__ = {"sqlite_autoincrement": True}

    seq: int | None = Field(default=None, sa_column=Column("seq", Integer, primary_key=True,
                                                           autoincrement=True))
    tableName: str = Field(sa_column=Column("tableName", Text, nullable=False))
    rowId: str = Field(sa_column=Column("rowId", Text, nullable=False))
    op: str = Field(sa_column=Column("op", Text, nullable=False))
