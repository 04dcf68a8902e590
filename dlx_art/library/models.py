"""The catalog tables, laid out exactly as Prisma lays out the suite's schema on SQLite.

`Project` and `ArtAsset` keep Prisma's table and column names (camelCase), declared types
(TEXT, BIGINT, INTEGER, REAL, BOOLEAN, DATETIME) and value formats (DateTime as ISO 8601 UTC text
with milliseconds and `+00:00`; booleans 1/0), so that the suite's other studios can read and
write the same file with Prisma. Columns the studio adds are all nullable or have SQL defaults.

The GUI and the command line never see these ORM rows: they get the frozen `ProjectInfo` and
`AssetInfo` records below, which are safe to pass between threads.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import REAL, BigInteger, Boolean, Column, Integer, Text
from sqlalchemy.types import TypeDecorator, UserDefinedType
from sqlmodel import Field, SQLModel


class _Declared(UserDefinedType[Any]):
    """A column type that only declares a SQL type name and passes values through."""

    cache_ok = True

    def __init__(self, name: str) -> None:
        self.name = name

    def get_col_spec(self, **_: Any) -> str:
        return self.name


def utc_now() -> datetime:
    """Now, in UTC, truncated to milliseconds (what Prisma stores)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_datetime(value: datetime) -> str:
    """`2026-11-26T05:46:00.631+00:00`: the one DateTime format of the suite."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+00:00"


def parse_datetime(value: object) -> datetime | None:
    """Read any DateTime a suite app may have written (ISO text, `Z`, SQL text, integer ms)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    parsed = datetime.fromisoformat(text.replace(" ", "T", 1))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


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


def new_id() -> str:
    return str(uuid.uuid4())


class Project(SQLModel, table=True):
    __tablename__ = "Project"

    id: str = Field(default_factory=new_id, sa_column=Column("id", Text, primary_key=True))
    name: str = Field(sa_column=Column("name", Text, nullable=False))
    description: str | None = Field(default=None, sa_column=Column("description", Text))
    type: str = Field(default="art", sa_column=Column("type", Text, nullable=False))
    status: str = Field(default="active", sa_column=Column("status", Text, nullable=False))
    createdAt: datetime = Field(
        default_factory=utc_now, sa_column=Column("createdAt", PrismaDateTime(), nullable=False)
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
    projectId: str | None = Field(default=None, sa_column=Column("projectId", Text))
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
                                        nullable=False)
    )
    createdAt: datetime = Field(
        default_factory=utc_now, sa_column=Column("createdAt", PrismaDateTime(), nullable=False)
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
    trashedAt: datetime | None = Field(default=None, sa_column=Column("trashedAt", PrismaDateTime()))
    approximate: bool = Field(
        default=False, sa_column=Column("approximate", Boolean(create_constraint=False),
                                        nullable=False, server_default="0")
    )
    missingAt: datetime | None = Field(default=None, sa_column=Column("missingAt", PrismaDateTime()))


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return format_datetime(value)
    return value


@dataclass(frozen=True)
class ProjectInfo:
    """A project as the GUI and the command line see it (immutable; safe across threads)."""

    id: str
    name: str
    description: str | None
    type: str
    status: str
    createdAt: datetime
    updatedAt: datetime
    folder: str | None
    lastOpenedAt: datetime | None

    @property
    def archived(self) -> bool:
        return self.status == "archived"

    @classmethod
    def from_row(cls, row: Any) -> ProjectInfo:
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})

    def to_json(self) -> dict[str, object]:
        return {k: _json_value(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class AssetInfo:
    """An image as the GUI and the command line see it (immutable; safe across threads)."""

    id: str
    projectId: str | None
    filePath: str
    fileType: str
    prompt: str
    negative: str | None
    model: str
    seed: int | None
    steps: int | None
    cfgScale: float | None
    parentId: str | None
    isFavorite: bool
    createdAt: datetime
    kind: str | None
    width: int | None
    height: int | None
    sampler: str | None
    scheduler: str | None
    denoisingStrength: float | None
    maskPath: str | None
    backend: str | None
    backendReason: str | None
    infotext: str | None
    fileSize: int | None
    contentHash: str | None
    trashedAt: datetime | None
    approximate: bool
    missingAt: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> AssetInfo:
        """Build from a catalog row (a SQLAlchemy Row or any object with the attributes).

        This runs for every row of every gallery page, so it avoids the frozen dataclass
        `__init__` (one `object.__setattr__` per field): the values are checked and normalised
        here, then stored directly.
        """
        if hasattr(row, "_fields"):
            values = dict(zip(row._fields, row, strict=True))
            values = {name: values.get(name) for name in _ASSET_FIELDS}
        else:
            values = {name: getattr(row, name, None) for name in _ASSET_FIELDS}
        values["isFavorite"] = bool(values["isFavorite"])
        values["approximate"] = bool(values["approximate"])
        for key in ("createdAt", "trashedAt", "missingAt"):
            if not isinstance(values[key], datetime):
                values[key] = parse_datetime(values[key])
        record = object.__new__(cls)
        record.__dict__.update(values)
        return record

    def to_json(self) -> dict[str, object]:
        return {k: _json_value(v) for k, v in asdict(self).items()}


ASSET_COLUMNS = [f.name for f in fields(AssetInfo)]
_ASSET_FIELDS = tuple(ASSET_COLUMNS)
PROJECT_COLUMNS = [f.name for f in fields(ProjectInfo)]
