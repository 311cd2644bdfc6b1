"""How long the KPI figures and a monitoring check take as a model's predictions grow.

Seeds ``--files`` predictions of two fields spread over ``--weeks`` weeks into a fresh SQLite
home (or ``--database-url``), a fifth of them corrected by a reviewer (one change-log row each,
with the page before and after), then times ``kpis.compute`` over the whole range, the CSV of
its weekly table, and ``monitoring.check`` (the last window only).

    python benchmarks/kpis_scale.py [--files 20000] [--weeks 12] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from docloop.config import Settings
from docloop.db.tables import (
    InferenceFile,
    InferencePage,
    Model,
    ModelVersion,
    PredictionChange,
    utcnow,
)
from docloop.ml import confidence
from docloop.ml.engines.rapid import RapidOcrEngine
from docloop.services import auth, kpis, models, monitoring
from docloop.services.context import AppContext, build_context
from docloop.services.predictions import DONE, STRAIGHT_THROUGH, epoch_day


def seed(ctx: AppContext, model_id: str, files: int, weeks: int) -> None:
    """``files`` predictions with pages, approvals and a correction on every fifth file."""
    rng, now = random.Random(0), utcnow()
    version_id = str(uuid.uuid4())
    reference = confidence.histogram(rng.uniform(0.9, 1.0) for _ in range(500))
    with ctx.session() as s:
        s.add(ModelVersion(
            id=version_id, model_id=model_id, number=1, artifact_hash="0" * 64,
            metrics={"val_confidence": {"edges": list(confidence.EDGES),
                                        "counts": {"total": reference, "date": reference}}},
            train_seconds=1.0,
        ))  # fmt: skip
        s.flush()
        s.get(Model, model_id).production_version_id = version_id  # type: ignore[union-attr]
    for start in range(0, files, 1000):
        with ctx.session() as s:
            for n in range(start, min(files, start + 1000)):
                when = now - timedelta(seconds=rng.uniform(0, weeks * 7 * 86400))
                file_id = str(uuid.uuid4())
                preds = [
                    {"id": str(uuid.uuid4()), "label": label, "type": "field", "xmin": 10,
                     "ymin": 10 + 40 * k, "xmax": 200, "ymax": 40 + 40 * k,
                     "score": round(rng.uniform(0.85, 1.0), 4), "ocr_text": f"{label}-{n}",
                     "page_no": 0, "status": "correctly_predicted"}
                    for k, label in enumerate(("total", "date"))
                ]  # fmt: skip
                straight = n % 3 == 0
                s.add(InferenceFile(
                    id=file_id, model_id=model_id, filename=f"{n}.png", blob_hash="0" * 64,
                    media_type="image/png", status=DONE, model_version_id=version_id,
                    moderated=n % 10 != 9, moderated_by=STRAIGHT_THROUGH if straight else "r",
                    review_seconds=None if straight else 25.0, predict_seconds=0.6,
                    day=epoch_day(when), created_at=when,
                ))  # fmt: skip
                s.flush()
                after = [dict(preds[0], ocr_text="fixed"), preds[1]] if n % 5 == 1 else preds
                s.add(InferencePage(id=str(uuid.uuid4()), file_id=file_id, page=0, width=800,
                                    height=600, predictions=after))  # fmt: skip
                if n % 5 == 1:
                    s.add(PredictionChange(file_id=file_id, page=0, action="edit_text", by="r",
                                           detail={"before": preds, "after": after}))  # fmt: skip


def timed(label: str, fn, rounds: int = 3) -> None:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    print(f"{label:<40} {best:8.3f} s (best of {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--weeks", type=int, default=12)
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
        backend = settings.sqlalchemy_url.split(":")[0]
        seconds = time.perf_counter() - t0
        print(f"seeded {args.files} files over {args.weeks} weeks in {seconds:.1f} s ({backend})")
        start = (utcnow() - timedelta(weeks=args.weeks)).date()
        found: list[kpis.KpiReport] = []

        def compute() -> None:
            found[:] = [kpis.compute(ctx, who, model_id=model.id, start=start)]

        timed("kpis.compute (one model, whole range)", compute)
        timed("kpis.compute (workspace, whole range)",
              lambda: kpis.compute(ctx, who, start=start))  # fmt: skip
        timed("kpis.to_csv (weeks)", lambda: kpis.to_csv(found[0], "weeks"))
        timed("monitoring.check (7-day window)", lambda: monitoring.check(ctx))
        print(f"automation rate {found[0].totals.automation_rate}, "
              f"processed {found[0].totals.processed}")  # fmt: skip
        ctx.close()


if __name__ == "__main__":
    main()
