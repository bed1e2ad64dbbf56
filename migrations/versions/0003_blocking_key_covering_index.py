"""blocking_key: the key index also holds record_id, so the candidate lookup reads the index only

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:10:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # (key) alone made every matching row a table lookup for its record_id; (key, record_id) answers
    # the candidate query from the index (SQLite covering index, PostgreSQL index-only scan)
    op.create_index("ix_blocking_key_key_record_id", "blocking_key", ["key", "record_id"])
    op.drop_index("ix_blocking_key_key", table_name="blocking_key")


def downgrade() -> None:
    op.create_index("ix_blocking_key_key", "blocking_key", ["key"])
    op.drop_index("ix_blocking_key_key_record_id", table_name="blocking_key")
