"""Studio columns, gallery indexes and prompt search.

Every added column is nullable or has a SQL default, so Prisma inserts keep working.
Prompt search is an FTS5 table kept in step with ArtAsset by triggers (so rows added by other
studios through Prisma are searchable too). Its rowid is ArtAsset's rowid; `assetId` is kept
beside it so `doctor` can detect and repair an index that a VACUUM put out of step.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ASSET_COLUMNS = [
    ("kind", "TEXT"),
    ("width", "INTEGER"),
    ("height", "INTEGER"),
    ("sampler", "TEXT"),
    ("scheduler", "TEXT"),
    ("denoisingStrength", "REAL"),
    ("maskPath", "TEXT"),
    ("backend", "TEXT"),
    ("backendReason", "TEXT"),
    ("infotext", "TEXT"),
    ("fileSize", "INTEGER"),
    ("contentHash", "TEXT"),
    ("trashedAt", "DATETIME"),
    ("approximate", "BOOLEAN NOT NULL DEFAULT 0"),
    ("missingAt", "DATETIME"),
]
PROJECT_COLUMNS = [("folder", "TEXT"), ("nameKey", "TEXT"), ("lastOpenedAt", "DATETIME")]

SEARCH_ROW = "(rowid, assetId, prompt, negative) VALUES ({0}.rowid, {0}.id, {0}.prompt, " \
    "coalesce({0}.negative, ''))"


def upgrade() -> None:
    for name, decl in ASSET_COLUMNS:
        op.execute(f'ALTER TABLE "ArtAsset" ADD COLUMN "{name}" {decl}')
    for name, decl in PROJECT_COLUMNS:
        op.execute(f'ALTER TABLE "Project" ADD COLUMN "{name}" {decl}')

    op.execute('CREATE UNIQUE INDEX "Project_nameKey_key" ON "Project" ("nameKey")')
    op.execute('CREATE UNIQUE INDEX "Project_folder_key" ON "Project" ("folder")')
    op.execute(
        'CREATE INDEX "ArtAsset_gallery_idx" ON "ArtAsset" '
        '("projectId", "createdAt" DESC, "id" DESC)'
        ' WHERE "trashedAt" IS NULL'
    )
    op.execute(
        'CREATE INDEX "ArtAsset_favorites_idx" ON "ArtAsset" '
        '("projectId", "isFavorite", "createdAt" DESC, "id" DESC) WHERE "trashedAt" IS NULL'
    )
    op.execute('CREATE INDEX "ArtAsset_trash_idx" ON "ArtAsset" ("trashedAt") '
               'WHERE "trashedAt" IS NOT NULL')
    op.execute('CREATE INDEX "ArtAsset_parentId_idx" ON "ArtAsset" ("parentId")')
    op.execute('CREATE INDEX "ArtAsset_filePath_idx" ON "ArtAsset" ("filePath")')
    op.execute('CREATE INDEX "ArtAsset_contentHash_idx" ON "ArtAsset" ("contentHash")')

    op.execute(
        "CREATE VIRTUAL TABLE \"ArtAssetSearch\" USING fts5("
        "assetId UNINDEXED, prompt, negative, tokenize = 'unicode61 remove_diacritics 2')"
    )
    op.execute(
        'INSERT INTO "ArtAssetSearch" (rowid, assetId, prompt, negative) '
        'SELECT rowid, id, prompt, coalesce(negative, \'\') FROM "ArtAsset"'
    )
    op.execute(
        'CREATE TRIGGER "ArtAsset_search_ai" AFTER INSERT ON "ArtAsset" BEGIN '
        f'INSERT INTO "ArtAssetSearch" {SEARCH_ROW.format("new")}; END'
    )
    op.execute(
        'CREATE TRIGGER "ArtAsset_search_ad" AFTER DELETE ON "ArtAsset" BEGIN '
        'DELETE FROM "ArtAssetSearch" WHERE rowid = old.rowid; END'
    )
    op.execute(
        'CREATE TRIGGER "ArtAsset_search_au" AFTER UPDATE OF "id", "prompt", "negative" '
        'ON "ArtAsset" BEGIN '
        'DELETE FROM "ArtAssetSearch" WHERE rowid = old.rowid; '
        f'INSERT INTO "ArtAssetSearch" {SEARCH_ROW.format("new")}; END'
    )


def downgrade() -> None:
    for trigger in ("ai", "ad", "au"):
        op.execute(f'DROP TRIGGER "ArtAsset_search_{trigger}"')
    op.execute('DROP TABLE "ArtAssetSearch"')
    for index in ("gallery", "favorites", "trash", "parentId", "filePath", "contentHash"):
        op.execute(f'DROP INDEX "ArtAsset_{index}_idx"')
    op.execute('DROP INDEX "Project_nameKey_key"')
    op.execute('DROP INDEX "Project_folder_key"')
    for name, _ in ASSET_COLUMNS:
        op.execute(f'ALTER TABLE "ArtAsset" DROP COLUMN "{name}"')
    for name, _ in PROJECT_COLUMNS:
        op.execute(f'ALTER TABLE "Project" DROP COLUMN "{name}"')
