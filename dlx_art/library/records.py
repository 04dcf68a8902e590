"""The catalog's records as the rest of the app sees them, and the suite's value formats.

Kept free of SQLAlchemy and SQLModel (about a second to import): reading the catalog at start-up
needs only these and the standard `sqlite3` module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any


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


def new_id() -> str:
    import uuid  # here: uuid loads `platform`, which opening a library does not need

    return str(uuid.uuid4())


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

    @classmethod
    def from_tuple(cls, values: Any) -> ProjectInfo:
        """From a plain row whose columns are in `PROJECT_COLUMNS` order."""
        data = dict(zip(_PROJECT_FIELDS, values, strict=True))
        for key in ("createdAt", "updatedAt", "lastOpenedAt"):
            data[key] = parse_datetime(data[key])
        return cls(**data)

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
        if isinstance(row, tuple) and not hasattr(row, "_fields"):
            values = dict(zip(_ASSET_FIELDS, row, strict=True))  # columns in field order
        elif hasattr(row, "_fields"):
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
_PROJECT_FIELDS = tuple(PROJECT_COLUMNS)
ASSET_SELECT = ", ".join(f'"{name}"' for name in ASSET_COLUMNS)
PROJECT_SELECT = ", ".join(f'"{name}"' for name in PROJECT_COLUMNS)
