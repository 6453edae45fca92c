"""analysis cell totals and unit indexes

Revision ID: 98c708a7060b
Revises: 5e89a68f5250
Create Date: 2026-11-30 02:06:07.394164
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '98c708a7060b'
down_revision: str | None = '5e89a68f5250'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Cells stored before this revision get zero totals: the engine version changed with it, so the next
    # `sera indicators compute` is a full run that rewrites every cell.
    with op.batch_alter_table('analysis_indicator_value', schema=None) as batch_op:
        batch_op.add_column(sa.Column('a_micros', sa.BigInteger(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('a_count', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('a_units', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('b_micros', sa.BigInteger(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('b_count', sa.Integer(), nullable=False, server_default=sa.text('0')))
        batch_op.add_column(sa.Column('b_units', sa.Integer(), nullable=False, server_default=sa.text('0')))

    with op.batch_alter_table('analysis_input', schema=None) as batch_op:
        batch_op.create_index('ix_analysis_input_a_unit', ['indicator', 'a_unit'], unique=False)
        batch_op.create_index('ix_analysis_input_b_unit', ['indicator', 'b_unit'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('analysis_input', schema=None) as batch_op:
        batch_op.drop_index('ix_analysis_input_b_unit')
        batch_op.drop_index('ix_analysis_input_a_unit')

    with op.batch_alter_table('analysis_indicator_value', schema=None) as batch_op:
        batch_op.drop_column('b_units')
        batch_op.drop_column('b_count')
        batch_op.drop_column('b_micros')
        batch_op.drop_column('a_units')
        batch_op.drop_column('a_count')
        batch_op.drop_column('a_micros')
