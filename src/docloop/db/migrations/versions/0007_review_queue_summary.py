"""review queue: per-file summary columns and their indexes, backfilled

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_INDEXES = {
    "ix_inference_files_queue_created": ["model_id", "status", "created_at", "id"],
    "ix_inference_files_queue_moderated": ["model_id", "status", "moderated", "created_at", "id"],
    "ix_inference_files_queue_score": ["model_id", "status", "min_score", "id"],
    "ix_inference_files_queue_filename": ["model_id", "status", "filename", "id"],
    "ix_inference_files_queue_fields": ["model_id", "status", "field_count", "id"],
    "ix_inference_files_queue_flagged": ["model_id", "status", "flagged_count", "id"],
    "ix_inference_files_queue_assignee": ["model_id", "status", "assigned_to", "id"],
}


def upgrade() -> None:
    with op.batch_alter_table("inference_files", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("field_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("flagged_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("min_score", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("labels", sa.Text(), nullable=False, server_default=""))
        for name, columns in QUEUE_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    _backfill()


def _backfill() -> None:
    """Summarise the files stored before this revision, in batches (core SQL only, so later
    changes to the ORM classes cannot break this revision)."""
    from docloop.services.file_summary import summary_of

    bind = op.get_bind()
    models = sa.table("models", sa.column("id"), sa.column("review_threshold"))
    files = sa.table(
        "inference_files", sa.column("id"), sa.column("model_id"), sa.column("field_count"),
        sa.column("flagged_count"), sa.column("min_score"), sa.column("labels"),
    )  # fmt: skip
    pages = sa.table(
        "inference_pages",
        sa.column("file_id"),
        sa.column("page"),
        sa.column("predictions", sa.JSON),
    )
    thresholds = dict(bind.execute(sa.select(models.c.id, models.c.review_threshold)).all())
    last = ""
    while True:
        batch = bind.execute(
            sa.select(files.c.id, files.c.model_id)
            .where(files.c.id > last)
            .order_by(files.c.id)
            .limit(500)
        ).all()
        if not batch:
            return
        found: dict[str, list] = {file_id: [] for file_id, _ in batch}
        for file_id, predictions in bind.execute(
            sa.select(pages.c.file_id, pages.c.predictions)
            .where(pages.c.file_id.in_(list(found)))
            .order_by(pages.c.file_id, pages.c.page)
        ):
            found[file_id].extend(predictions or [])
        for file_id, model_id in batch:
            summary = summary_of(found[file_id], thresholds.get(model_id))
            bind.execute(
                files.update()
                .where(files.c.id == file_id)
                .values(
                    field_count=summary.field_count, flagged_count=summary.flagged_count,
                    min_score=summary.min_score, labels=summary.joined_labels,
                )
            )  # fmt: skip
        last = batch[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("inference_files", schema=None) as batch_op:
        for name in QUEUE_INDEXES:
            batch_op.drop_index(name)
        batch_op.drop_column("labels")
        batch_op.drop_column("min_score")
        batch_op.drop_column("flagged_count")
        batch_op.drop_column("field_count")
