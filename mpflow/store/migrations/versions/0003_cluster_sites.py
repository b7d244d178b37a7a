"""cluster_sites (query budget, back-off, room, GROMACS versions per cluster); jobs: resources, reason_since, missing_since

Revision ID: 0003_cluster_sites
Revises: 0002_clusters
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = '0003_cluster_sites'
down_revision = '0002_clusters'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cluster_sites',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('observed', sa.DateTime(), nullable=True),
    sa.Column('user_jobs', sa.Integer(), nullable=True),
    sa.Column('backoff_until', sa.DateTime(), nullable=True),
    sa.Column('backoff_s', sa.Float(), nullable=True),
    sa.Column('backoff_reason', sa.Text(), nullable=True),
    sa.Column('limit_jobs', sa.Integer(), nullable=True),
    sa.Column('limit_reason', sa.Text(), nullable=True),
    sa.Column('limit_since', sa.DateTime(), nullable=True),
    sa.Column('waiting', sa.Text(), nullable=True),
    sa.Column('grompp_version', sa.String(length=64), nullable=True),
    sa.Column('mdrun_version', sa.String(length=64), nullable=True),
    sa.Column('gromacs_checked', sa.DateTime(), nullable=True),
    sa.Column('gromacs_problem', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('resources', sa.Text(), nullable=True))
        batch.add_column(sa.Column('reason_since', sa.DateTime(), nullable=True))
        batch.add_column(sa.Column('missing_since', sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('missing_since')
        batch.drop_column('reason_since')
        batch.drop_column('resources')
    op.drop_table('cluster_sites')
