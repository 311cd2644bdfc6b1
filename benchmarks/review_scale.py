"""The review queue at 10,000 and 100,000 predictions on PostgreSQL.

Seeds one model's predictions into a throwaway database with COPY (seconds, not minutes),
then times through the API (in-process ASGI client, an admin key): opening the queue, each
filter and sort, a deep keyset page, the counts, a file's position, approve-and-next, and
starting an export; then runs one export of every file (streamed in batches). Prints p50 and
p95 per operation and the process's peak memory, one child process per size so each figure
is its own. With ``--open-reviews N`` the caller has N open second reviews of approved files,
which every queue query and the export leave out (``second_review.hidden_from``).

    python benchmarks/review_scale.py [--sizes 10000 100000] [--repeat 20] [--open-reviews 0]
        [--postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from sqlalchemy import select

from docloop.api.app import create_app
from docloop.config import Settings
from docloop.db.tables import InferenceFile, SecondReview
from docloop.services import auth, exports, models
from docloop.services.auth import Principal
from docloop.services.context import AppContext, build_context
from docloop.services.file_summary import summary_of
from docloop.services.predictions import DONE, epoch_day

KEY = "bench-key-123"
LABELS = ["number_plate", "make"]
DAYS = 90


def _predictions(rng: random.Random, page: int) -> list[dict[str, Any]]:
    out = []
    for n in range(rng.choice((1, 1, 2, 3))):
        score = round(rng.betavariate(5, 1.5), 4)
        out.append({
            "id": str(uuid.UUID(int=rng.getrandbits(128))), "label": LABELS[n % 2],
            "type": "field", "xmin": 10, "ymin": 10, "xmax": 120, "ymax": 40, "score": score,
            "ocr_text": f"KL{rng.randrange(10**6):06d}", "page_no": page,
            "status": "correctly_predicted",
            "flags": [f"confidence {score:.2f} is below 0.80"] if score < 0.8 else [],
        })  # fmt: skip
    return out


def _rows(model_id: str, n: int, blob: str, now: datetime) -> Iterator[tuple[Any, ...]]:
    """(file row, page row) of ``n`` files, generated one at a time, the same on every call."""
    rng = random.Random(7)
    for i in range(n):
        file_id = str(uuid.UUID(int=rng.getrandbits(128)))
        created = now - timedelta(seconds=DAYS * 86400 * (n - i) / n)
        preds = _predictions(rng, 0)
        s = summary_of(preds, None)
        moderated = rng.random() < 0.3
        yield (
            (file_id, model_id, f"photo-{i:06d}.jpg", blob, "image/jpeg", DONE, moderated,
             "bench" if moderated else None, epoch_day(created), created, s.field_count,
             s.flagged_count, s.min_score, s.joined_labels),
            (str(uuid.UUID(int=rng.getrandbits(128))), file_id, 0, 806, 466, json.dumps(preds),
             created),
        )  # fmt: skip


COPY_INTO = (
    "COPY inference_files (id, model_id, filename, blob_hash, media_type, status, moderated, "
    "moderated_by, day, created_at, field_count, flagged_count, min_score, labels) FROM STDIN",
    "COPY inference_pages (id, file_id, page, width, height, predictions, updated_at) FROM STDIN",
)


def seed(url: str, model_id: str, n: int, blob: str) -> float:
    """``n`` processed files with one page of predictions each, streamed by COPY into each
    table in turn (the rows are generated again per table, never held); returns seconds."""
    started, now = time.perf_counter(), datetime.now(UTC)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        for table, statement in enumerate(COPY_INTO):
            with cur.copy(statement) as copy:
                for rows in _rows(model_id, n, blob, now):
                    copy.write_row(rows[table])
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # what autovacuum does to a table that stopped growing
    return time.perf_counter() - started


def timed(repeat: int, call: Callable[[int], Any]) -> tuple[float, float]:
    """p50 and p95 in milliseconds of ``call(i)`` over ``repeat`` runs (after one warm-up)."""
    call(-1)
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]


def open_reviews(ctx: AppContext, who: Principal, model_id: str, n: int) -> None:
    """Give the caller ``n`` open second reviews, of the first ``n`` approved files by id."""
    with ctx.session() as s:
        files = s.scalars(
            select(InferenceFile.id)
            .where(InferenceFile.model_id == model_id, InferenceFile.moderated.is_(True))
            .order_by(InferenceFile.id)
            .limit(n)
        ).all()
        s.add_all(
            SecondReview(id=str(uuid.uuid4()), file_id=f, model_id=model_id,
                         first_reviewer="bench", reviewer=who.actor, shown=[], first=[])
            for f in files
        )  # fmt: skip


def measure(base_url: str, n: int, repeat: int, reviews: int = 0) -> dict[str, Any]:
    """Seed ``n`` files into a new database, time each operation, drop the database."""
    name = f"docloop_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base_url.rsplit("/", 1)[0] + "/" + name
    home = Path(tempfile.mkdtemp(prefix="docloop-bench-"))
    ctx = build_context(
        Settings(
            home=home, database_url=url, bootstrap_api_key=KEY, inprocess_worker=False,
            auto_migrate=True,  # a throwaway database: this process makes its schema
        )
    )  # fmt: skip
    try:
        who = auth.authenticate(ctx, KEY)
        model_id = models.create_model(ctx, who, categories=LABELS).id
        blob = ctx.blobs.put(b"not an image: the queue never opens the file")
        seed_s = seed(url, model_id, n, blob)
        open_reviews(ctx, who, model_id, reviews)
        out: dict[str, Any] = {"files": n, "seed_s": round(seed_s, 1), "open_reviews": reviews}
        with TestClient(
            create_app(ctx.settings, ctx=ctx), headers={"Authorization": f"Bearer {KEY}"}
        ) as c:
            queue = f"/api/v1/models/{model_id}/review"

            def get(path: str, **params: Any) -> dict[str, Any]:
                r = c.get(path, params=params)
                assert r.status_code == 200, r.text
                return r.json()  # type: ignore[no-any-return]

            deep = get(queue, limit=200)
            for _ in range(20):
                deep = get(queue, limit=200, cursor=deep["next_cursor"])
            today = datetime.now(UTC).date()
            waiting = get(queue, moderated="false", limit=200)["files"]
            ops: dict[str, Callable[[int], Any]] = {
                "open the queue": lambda i: get(queue),
                "filter: waiting": lambda i: get(queue, moderated="false"),
                "filter: label": lambda i: get(queue, label="make"),
                "filter: below 0.6": lambda i: get(queue, below=0.6),
                "filter: last 7 days": lambda i: get(
                    queue, start=str(today - timedelta(days=7)), end=str(today)
                ),
                "all filters": lambda i: get(
                    queue,
                    moderated="false",
                    label="make",
                    below=0.9,
                    start=str(today - timedelta(days=30)),
                    end=str(today),
                ),  # fmt: skip
                "sort: min_score asc": lambda i: get(queue, sort="min_score", order="asc"),
                "sort: flagged desc": lambda i: get(queue, sort="flagged"),
                "page 21 (cursor)": lambda i: get(queue, limit=200, cursor=deep["next_cursor"]),
                "counts": lambda i: get(queue, limit=1)["counts"],
                "position": lambda i: get(f"{queue}/{waiting[100]['id']}/position"),
                "approve-and-next": lambda i: (
                    c.put(f"/api/v1/models/{model_id}/predictions/{waiting[i + 1]['id']}/approval"),
                    get(f"{queue}/next", current=waiting[i + 1]["id"]),
                ),
                "export start": lambda i: c.post(
                    f"/api/v1/models/{model_id}/exports",
                    json={"format": "csv", "start": "2000-01-01", "end": str(today)},
                ),
            }
            for label, call in ops.items():
                p50, p95 = timed(repeat, call)
                out[label] = {"p50_ms": round(p50, 1), "p95_ms": round(p95, 1)}
        out["peak_rss_mb_queries"] = round(_peak_mb(), 1)
        job = exports.request_export(
            ctx, who, model_id, "csv", today - timedelta(days=DAYS + 1), today
        )
        t = time.perf_counter()
        exports.run_export_job(ctx, {"export_id": job.id})  # the timed starts stay queued
        out["export_all_s"] = round(time.perf_counter() - t, 1)
        out["export_rows"] = exports.get_export(ctx, who, job.id).rows
        out["peak_rss_mb_after_export"] = round(_peak_mb(), 1)
        return out
    finally:
        ctx.close()
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--open-reviews", type=int, default=0, help="the caller's open second reviews"
    )
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # a child: one size, JSON on stdout
        print(json.dumps(measure(args.postgres, args.sizes[0], args.repeat, args.open_reviews)))
        return
    results = []
    for n in args.sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--one", "--sizes", str(n), "--repeat", str(args.repeat),
             "--open-reviews", str(args.open_reviews), "--postgres", args.postgres],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
    _print(results)


def _print(results: list[dict[str, Any]]) -> None:
    ops = [k for k, v in results[0].items() if isinstance(v, dict)]
    head = "| operation | " + " | ".join(f"{r['files']:,} files p50 / p95 ms" for r in results)
    print(head + " |")
    print("|---" * (len(results) + 1) + "|")
    for op in ops:
        cells = [f"{r[op]['p50_ms']} / {r[op]['p95_ms']}" for r in results]
        print(f"| {op} | " + " | ".join(cells) + " |")
    for key in ("open_reviews", "seed_s", "peak_rss_mb_queries", "export_all_s", "export_rows",
                "peak_rss_mb_after_export"):  # fmt: skip
        print(f"| {key} | " + " | ".join(str(r[key]) for r in results) + " |")


if __name__ == "__main__":
    main()
