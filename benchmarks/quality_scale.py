"""How long the agreement and annotator figures (``GET /api/v1/quality``) take as approvals grow.

Seeds ``--files`` predictions like ``kpis_scale.py`` (two fields each, over ``--weeks`` weeks,
every fifth corrected), gives the approvals to ``--reviewers`` people, opens a decided second
review for ``--share`` of the approved files (the second reviewer rewrites one total in three),
then times ``quality.compute`` for the model over the whole range.

    python benchmarks/quality_scale.py [--files 20000] [--share 0.1] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from kpis_scale import seed, timed
from sqlalchemy import select

from docloop.config import Settings
from docloop.db.tables import InferenceFile, InferencePage, SecondReview, utcnow
from docloop.ml.engines.rapid import RapidOcrEngine
from docloop.services import auth, models, quality
from docloop.services.context import build_context
from docloop.services.predictions import STRAIGHT_THROUGH
from docloop.services.second_review import field


def add_second_reviews(ctx, model_id: str, reviewers: int, share: float) -> int:  # type: ignore[no-untyped-def]
    """Spread the approvals over ``reviewers`` people and decide a second review of ``share``
    of them; returns how many."""
    rng, n = random.Random(1), 0
    with ctx.session() as s:
        rows = s.execute(
            select(InferenceFile, InferencePage)
            .join(InferencePage, InferencePage.file_id == InferenceFile.id)
            .where(
                InferenceFile.moderated.is_(True), InferenceFile.moderated_by != STRAIGHT_THROUGH
            )
        ).all()
        for i, (f, page) in enumerate(rows):
            f.moderated_by = f"reviewer{i % reviewers}@example.com"
            f.moderated_at = f.created_at
            if rng.random() >= share:
                continue
            first = [field(0, p) for p in page.predictions]
            second = [dict(x, text="other") if x["label"] == "total" and i % 3 == 0 else x
                      for x in first]  # fmt: skip
            s.add(SecondReview(
                id=str(uuid.uuid4()), file_id=f.id, model_id=model_id,
                first_reviewer=f.moderated_by, reviewer="second@example.com", shown=first,
                first=first, second=second, created_at=f.created_at,
                decided_at=f.created_at + timedelta(hours=1),
            ))  # fmt: skip
            n += 1
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--reviewers", type=int, default=8)
    parser.add_argument("--share", type=float, default=0.1)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), database_url=args.database_url, auto_migrate=True,
                            bootstrap_api_key="bench-key", monitor_interval_s=0)  # fmt: skip
        ctx = build_context(settings, ocr=RapidOcrEngine())
        who = auth.authenticate(ctx, "bench-key")
        model = models.create_model(ctx, who, categories=["total", "date"], name="bench")
        t0 = time.perf_counter()
        seed(ctx, model.id, args.files, args.weeks)
        reviews = add_second_reviews(ctx, model.id, args.reviewers, args.share)
        backend = settings.sqlalchemy_url.split(":")[0]
        print(f"seeded {args.files} files and {reviews} second reviews in "
              f"{time.perf_counter() - t0:.1f} s ({backend})")  # fmt: skip
        start = (utcnow() - timedelta(weeks=args.weeks)).date()
        found: list[quality.QualityReport] = []

        def compute() -> None:
            found[:] = [quality.compute(ctx, who, model_id=model.id, start=start)]

        timed("quality.compute (one model, whole range)", compute)
        total = found[0].agreement.labels["total"]
        print(f"total: text agreement {total.text_agreement}, kappa {total.kappa}; "
              f"{len(found[0].annotators)} reviewers")  # fmt: skip
        ctx.close()


if __name__ == "__main__":
    main()
