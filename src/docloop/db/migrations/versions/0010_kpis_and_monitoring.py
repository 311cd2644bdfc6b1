"""review and prediction seconds per file, the state of each monitoring alert, and when a
training's outcome was announced

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-03 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inference_files") as batch:
        batch.add_column(sa.Column("review_seconds", sa.Float(), nullable=True))
        batch.add_column(sa.Column("predict_seconds", sa.Float(), nullable=True))
    with op.batch_alter_table("training_runs") as batch:
        batch.add_column(sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True))
    # Trainings that ended before notifications existed are not announced now.
    op.execute(
        "UPDATE training_runs SET announced_at = finished_at "
        "WHERE status IN ('succeeded', 'failed')"
    )
    op.create_table(
        "alert_states",
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("figure", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("firing", sa.Boolean(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("model_id", "figure", "label"),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
    with op.batch_alter_table("training_runs") as batch:
        batch.drop_column("announced_at")
    with op.batch_alter_table("inference_files") as batch:
        batch.drop_column("predict_seconds")
        batch.drop_column("review_seconds")
