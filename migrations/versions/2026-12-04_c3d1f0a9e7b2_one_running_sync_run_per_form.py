"""one running sync run per form

Revision ID: c3d1f0a9e7b2
Revises: 98c708a7060b
Create Date: 2026-12-04 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c3d1f0a9e7b2'
down_revision: str | None = '98c708a7060b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Two runs of one form left `running` by the old check-then-insert: keep the newest, the others were lost.
    op.execute(
        "UPDATE sync_run SET status = 'abandoned', finished_at = CURRENT_TIMESTAMP, "
        "error = 'the process running this sync stopped' "
        "WHERE status = 'running' AND remote_form_id IS NOT NULL AND id < "
        "(SELECT MAX(newer.id) FROM sync_run AS newer "
        "WHERE newer.remote_form_id = sync_run.remote_form_id AND newer.status = 'running')"
    )
    op.create_index(
        'ux_sync_run_running_form',
        'sync_run',
        ['remote_form_id'],
        unique=True,
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )


def downgrade() -> None:
    op.drop_index(
        'ux_sync_run_running_form',
        table_name='sync_run',
        sqlite_where=sa.text("status = 'running'"),
        postgresql_where=sa.text("status = 'running'"),
    )
