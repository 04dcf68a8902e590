"""The suite's Prisma schema, exactly as Prisma creates it on SQLite.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        'CREATE TABLE "Project" ('
        '"id" TEXT NOT NULL PRIMARY KEY, "name" TEXT NOT NULL, "description" TEXT, '
        '"type" TEXT NOT NULL, "status" TEXT NOT NULL, '
        '"createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, "updatedAt" DATETIME NOT NULL)'
    )
    op.execute(
        'CREATE TABLE "ArtAsset" ('
        '"id" TEXT NOT NULL PRIMARY KEY, "projectId" TEXT, "filePath" TEXT NOT NULL, '
        '"fileType" TEXT NOT NULL, "prompt" TEXT NOT NULL, "negative" TEXT, '
        '"model" TEXT NOT NULL, "seed" BIGINT, "steps" INTEGER, "cfgScale" REAL, '
        '"parentId" TEXT, "isFavorite" BOOLEAN NOT NULL DEFAULT false, '
        '"createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP, '
        'CONSTRAINT "ArtAsset_projectId_fkey" FOREIGN KEY ("projectId") '
        'REFERENCES "Project" ("id") ON DELETE SET NULL ON UPDATE CASCADE)'
    )


def downgrade() -> None:
    op.execute('DROP TABLE "ArtAsset"')
    op.execute('DROP TABLE "Project"')
