"""The durable job queue (`StudioJob`) and the change log (`StudioChange`), studio tables.

Prisma ignores tables its schema does not name, so the suite's other studios keep working.
`StudioChange` is filled by triggers on `ArtAsset`, `Project` and `StudioJob` (so writes by any
program, Prisma included, are logged) and read by `dlx_art.library.changes`: a window learns
which rows another process changed without scanning the catalog. It keeps the last
`CHANGE_LOG_KEEP` entries (a trigger prunes it every 1,000 entries); a reader that fell further
behind reloads everything.
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

CHANGE_TABLES = ("ArtAsset", "Project", "StudioJob")
CHANGE_LOG_KEEP = 10_000


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

    op.execute(
        'CREATE TABLE "StudioChange" ('
        '"seq" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, '
        '"tableName" TEXT NOT NULL, '
        '"rowId" TEXT NOT NULL, '
        '"op" TEXT NOT NULL)'
    )
    for table in CHANGE_TABLES:
        for event, row in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old")):
            op.execute(
                f'CREATE TRIGGER "{table}_change_{event.lower()}" AFTER {event} ON "{table}" '
                f'BEGIN INSERT INTO "StudioChange" ("tableName", "rowId", "op") '
                f"VALUES ('{table}', {row}.\"id\", '{event.lower()}'); END"
            )
    op.execute(
        'CREATE TRIGGER "StudioChange_prune" AFTER INSERT ON "StudioChange" '
        'WHEN new."seq" % 1000 = 0 BEGIN '
        f'DELETE FROM "StudioChange" WHERE "seq" <= new."seq" - {CHANGE_LOG_KEEP}; END'
    )


def downgrade() -> None:
    op.execute('DROP TRIGGER "StudioChange_prune"')
    for table in CHANGE_TABLES:
        for event in ("insert", "update", "delete"):
            op.execute(f'DROP TRIGGER "{table}_change_{event}"')
    op.execute('DROP TABLE "StudioChange"')
    op.execute('DROP INDEX "StudioJob_updatedAt_idx"')
    op.execute('DROP INDEX "StudioJob_state_idx"')
    op.execute('DROP TABLE "StudioJob"')
