"""Jobs claimed per second on PostgreSQL by 1, 4 and 16 worker threads: the conditional UPDATE
that SQLite uses against ``SELECT ... FOR UPDATE SKIP LOCKED``, which PostgreSQL workers use.

Each run gets a throwaway database (created and dropped here) seeded with ``--jobs`` queued
jobs; the threads claim until the queue is empty. It prints claims per second, the candidates a
claimer found taken by another one first (lost races), the claim calls that came back
empty-handed while jobs were left (each would cost a real worker a poll interval), and checks
that every job was claimed exactly once.

    python benchmarks/job_claims.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                    [--jobs 1000] [--threads 1,4,16]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from tempfile import TemporaryDirectory

import psycopg

from docloop.config import Settings
from docloop.domain import JobKind
from docloop.services import jobs
from docloop.services.context import AppContext, build_context

Strategy = Callable[[AppContext, str], jobs.Claim]
STRATEGIES: dict[str, Strategy] = {
    "conditional UPDATE": jobs.claim_with_update,
    "SKIP LOCKED": jobs.claim_skip_locked,
}


@contextmanager
def throwaway_database(server_url: str) -> Iterator[str]:
    name = f"docloop_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(ctx: AppContext, claim: Strategy, n_jobs: int, threads: int) -> dict[str, float]:
    with ctx.session() as s:
        for i in range(n_jobs):
            jobs.enqueue(s, JobKind.OCR, {"n": i}, model_id=None, max_attempts=3)
    claimed: list[list[int]] = [[] for _ in range(threads)]
    lost = [0] * threads
    empty = [0] * threads
    start = threading.Barrier(threads + 1)

    def work(i: int) -> None:
        start.wait()
        while True:
            result = claim(ctx, f"bench-{i}")
            lost[i] += result.lost_races
            if result.job is not None:
                claimed[i].append(result.job.id)
            elif result.lost_races == 0:  # nothing claimable was seen: the queue is empty
                return
            else:
                empty[i] += 1

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    t0 = time.perf_counter()
    for w in workers:
        w.join()
    seconds = time.perf_counter() - t0
    every = [job_id for ids in claimed for job_id in ids]
    return {
        "seconds": seconds,
        "claims_per_s": len(every) / seconds,
        "lost_races": sum(lost),
        "empty_claims": sum(empty),
        "claimed": len(every),
        "claimed_twice": len(every) - len(set(every)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--url",
        default=os.environ.get(
            "DOCLOOP_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a PostgreSQL server URL whose user may create databases",
    )
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--threads", default="1,4,16")
    args = ap.parse_args()
    counts = [int(t) for t in args.threads.split(",")]
    print(f"{args.jobs} queued jobs per run, {os.cpu_count()} CPU cores, load {os.getloadavg()}")
    print(
        f"{'strategy':<20}{'threads':>8}{'seconds':>9}{'claims/s':>10}{'lost races':>12}"
        f"{'empty claims':>14}{'claimed':>9}{'twice':>7}"
    )
    for threads in counts:
        for name, claim in STRATEGIES.items():
            with throwaway_database(args.url) as url, TemporaryDirectory() as home:
                settings = Settings(home=Path(home), database_url=url, auto_migrate=True)
                ctx = build_context(settings)
                try:
                    r = measure(ctx, claim, args.jobs, threads)
                finally:
                    ctx.close()
            print(
                f"{name:<20}{threads:>8}{r['seconds']:>9.2f}{r['claims_per_s']:>10.0f}"
                f"{r['lost_races']:>12}{r['empty_claims']:>14}{r['claimed']:>9}"
                f"{r['claimed_twice']:>7}",
                flush=True,
            )


if __name__ == "__main__":
    main()
