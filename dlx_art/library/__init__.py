"""The catalog (SQLite through SQLModel), project folders on disk and image metadata. No Qt."""
