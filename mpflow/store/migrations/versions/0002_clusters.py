"""clusters: the project folder's claim on each cluster, and each cluster's reachability

Revision ID: 0002_clusters
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = '0002_clusters'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('clusters',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('workdir', sa.Text(), nullable=True),
    sa.Column('claimed', sa.DateTime(), nullable=True),
    sa.Column('reached', sa.DateTime(), nullable=True),
    sa.Column('unreachable_since', sa.DateTime(), nullable=True),
    sa.Column('unreachable_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('clusters')
