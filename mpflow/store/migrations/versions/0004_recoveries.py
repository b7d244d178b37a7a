"""recoveries: what a restore from a backup has yet to find again on the clusters

Revision ID: 0004_recoveries
Revises: 0003_cluster_sites
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0004_recoveries'
down_revision = '0003_cluster_sites'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('recoveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('restored', sa.DateTime(), nullable=False),
    sa.Column('backup', sa.Text(), nullable=True),
    sa.Column('pending', sa.JSON(), nullable=False),
    sa.Column('adopted', sa.Integer(), nullable=False),
    sa.Column('finished', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )


def downgrade() -> None:
    op.drop_table('recoveries')
