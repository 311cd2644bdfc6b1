"""second reviews of sampled approved files, and each model's share of files sampled

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("second_review_share", sa.Float(), nullable=True))
    op.create_table(
        "second_reviews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("file_id", sa.String(length=36), nullable=False),
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("first_reviewer", sa.String(length=200), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=False),
        sa.Column("shown", sa.JSON(), nullable=False),
        sa.Column("first", sa.JSON(), nullable=False),
        sa.Column("second", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["file_id"], ["inference_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_second_reviews_file_id", "second_reviews", ["file_id"])
    op.create_index("ix_second_reviews_model_id", "second_reviews", ["model_id"])
    op.create_index("ix_second_reviews_reviewer", "second_reviews", ["reviewer"])


def downgrade() -> None:
    op.drop_table("second_reviews")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("second_review_share")
