"""The durable job queue: `StudioJob`, a studio table beside Prisma's.

Prisma ignores tables its schema does not name, so the suite's other studios keep working.
Values follow the catalog's formats: DateTime as ISO 8601 UTC text with milliseconds and
`+00:00`, booleans 1/0, JSON as text. See `dlx_art.library.jobs` for the states.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        'CREATE TABLE "StudioJob" ('
        '"id" TEXT NOT NULL PRIMARY KEY, '
        '"kind" TEXT NOT NULL, '
        '"request" TEXT NOT NULL, '
        '"projectId" TEXT, '
        '"origin" TEXT NOT NULL, '
        '"state" TEXT NOT NULL, '
        '"progress" REAL NOT NULL DEFAULT 0, '
        '"progressInfo" TEXT, '
        '"createdAt" DATETIME NOT NULL, '
        '"startedAt" DATETIME, '
        '"finishedAt" DATETIME, '
        '"updatedAt" DATETIME NOT NULL, '
        '"error" TEXT, '
        '"errorKind" TEXT, '
        '"exitCode" INTEGER, '
        '"resultAssetIds" TEXT, '
        '"backend" TEXT, '
        '"fallbackReason" TEXT, '
        '"attempts" INTEGER NOT NULL DEFAULT 0, '
        '"runner" TEXT, '
        '"cancelRequested" BOOLEAN NOT NULL DEFAULT 0)'
    )
    # the runner's "next job" and the job lists read by state, in queue order
    op.execute('CREATE INDEX "StudioJob_state_idx" ON "StudioJob" ("state")')
    op.execute('CREATE INDEX "StudioJob_updatedAt_idx" ON "StudioJob" ("updatedAt")')


def downgrade() -> None:
    op.execute('DROP INDEX "StudioJob_updatedAt_idx"')
    op.execute('DROP INDEX "StudioJob_state_idx"')
    op.execute('DROP TABLE "StudioJob"')
