"""review queue: each file's usefulness to review next (active learning), and its index

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_inference_files_queue_usefulness"


def upgrade() -> None:
    # Files predicted before this revision keep no score: it needs the model's outputs, which
    # were not stored, so they sort as missing values do (first when most useful comes first).
    with op.batch_alter_table("inference_files", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usefulness", sa.Float(), nullable=True))
        batch_op.create_index(INDEX, ["model_id", "status", "usefulness", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inference_files", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.drop_column("usefulness")
