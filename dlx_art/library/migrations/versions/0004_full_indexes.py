"""Gallery indexes without a WHERE clause, so every SQLite client can describe the catalog.

The gallery, favorites and trash indexes of 0002 were partial (`... WHERE "trashedAt" IS NULL`).
Prisma's schema engine reads a partial index's predicate back with a double-quoted string
literal, which SQLite builds without double-quoted strings (better-sqlite3, the driver adapter the
suite's studios use) reject: `prisma db pull` and `prisma migrate diff` then fail on the whole
catalog. Full indexes that lead with the same columns and carry `trashedAt` as an equality column
give SQLite the same plans (`"trashedAt" IS NULL` is an equality constraint for the planner), so
the newest page, the favorites page and their counts still read the index in order, without a
temporary B-tree (tests/unit/test_catalog.py checks the plans).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FULL = {
    "ArtAsset_gallery_idx": '("projectId", "trashedAt", "createdAt" DESC, "id" DESC)',
    "ArtAsset_favorites_idx":
        '("projectId", "isFavorite", "trashedAt", "createdAt" DESC, "id" DESC)',
    "ArtAsset_trash_idx": '("trashedAt")',
}
PARTIAL = {
    "ArtAsset_gallery_idx": '("projectId", "createdAt" DESC, "id" DESC) '
                            'WHERE "trashedAt" IS NULL',
    "ArtAsset_favorites_idx": '("projectId", "isFavorite", "createdAt" DESC, "id" DESC) '
                              'WHERE "trashedAt" IS NULL',
    "ArtAsset_trash_idx": '("trashedAt") WHERE "trashedAt" IS NOT NULL',
}


def _replace(indexes: dict[str, str]) -> None:
    for name, columns in indexes.items():
        op.execute(f'DROP INDEX IF EXISTS "{name}"')
        op.execute(f'CREATE INDEX "{name}" ON "ArtAsset" {columns}')


def upgrade() -> None:
    _replace(FULL)


def downgrade() -> None:
    _replace(PARTIAL)
