"""jobs.progress: how far a job's run is, read from its GROMACS log; events.kind indexed (a tick reads
the clusters' last reachability events)

Revision ID: 0005_job_progress
Revises: 0004_recoveries
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_job_progress'
down_revision = '0004_recoveries'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('progress', sa.JSON(), nullable=True))
    op.create_index('ix_events_kind', 'events', ['kind'])


def downgrade() -> None:
    op.drop_index('ix_events_kind', table_name='events')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_column('progress')
