"""submission change stamps, fact content hashes, compute change mark

Revision ID: c4a1e7d2b9f3
Revises: 001553d22bc5
Create Date: 2026-12-04 16:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = 'c4a1e7d2b9f3'
down_revision: str | None = '001553d22bc5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Stored submissions get stamp 0 and the compute state no change mark: the next `sera indicators compute` is
    # a full run, which sees them all. New writes are stamped by the application (sync.tables.ChangeStamp).
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_seq', sa.BigInteger(), nullable=False, server_default=sa.text('0')))
        batch_op.create_index('ix_submission_change_seq', ['change_seq', 'id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # A write that forgot the stamp must fail, not be missed: no default outside the application.
        op.alter_column('submission', 'change_seq', server_default=None)

    with op.batch_alter_table('analysis_fact', schema=None) as batch_op:
        batch_op.add_column(sa.Column('content_hash', sa.String(length=64), nullable=True))

    with op.batch_alter_table('analysis_compute_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('change_mark', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('analysis_compute_state', schema=None) as batch_op:
        batch_op.drop_column('change_mark')

    with op.batch_alter_table('analysis_fact', schema=None) as batch_op:
        batch_op.drop_column('content_hash')

    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index('ix_submission_change_seq')
        batch_op.drop_column('change_seq')
