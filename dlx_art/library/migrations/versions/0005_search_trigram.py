"""Search any part of a word (CJK too): the prompt search table uses FTS5's trigram tokenizer.

The unicode61 tokenizer splits on spaces, so text without spaces (Chinese, Japanese) was one
long token and a character inside it was never found. The table keeps its columns, rowid and
triggers; only the tokenizer changes, so the table and its triggers are rebuilt.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SEARCH_ROW = "(rowid, assetId, prompt, negative) VALUES ({0}.rowid, {0}.id, {0}.prompt, " \
    "coalesce({0}.negative, ''))"


def _rebuild(tokenize: str) -> None:
    for trigger in ("ai", "ad", "au"):
        op.execute(f'DROP TRIGGER IF EXISTS "ArtAsset_search_{trigger}"')
    op.execute('DROP TABLE IF EXISTS "ArtAssetSearch"')
    op.execute(
        "CREATE VIRTUAL TABLE \"ArtAssetSearch\" USING fts5("
        f"assetId UNINDEXED, prompt, negative, tokenize = '{tokenize}')"
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


def upgrade() -> None:
    _rebuild("trigram")


def downgrade() -> None:
    _rebuild("unicode61 remove_diacritics 2")
