"""Load test: 8 locust users of mixed v2 traffic against a local server, then count what it stored.

Trains a plate model on the bundled sample, starts `docloop serve` (with its in-process worker,
for the async predictions), runs `benchmarks/locustfile.py` headless, waits for queued
predictions to finish, and checks the database against the ledger of request_file_ids the
clients were given: none missing, none unexpected, none stored twice, one page each. Exits 1 on
any failed request or count mismatch. Needs the `bench` extra (locust).

    python benchmarks/load_test.py [--users 8] [--minutes 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_common import KEY, running_server, train_sample_models
from sqlalchemy import func, select

from docloop.config import Settings
from docloop.db.tables import InferenceFile, InferencePage
from docloop.services.context import build_context

HERE = Path(__file__).resolve().parent


def _run_locust(url: str, model_id: str, users: int, minutes: float, out: Path) -> int:
    env = {
        **os.environ,
        "DOCLOOP_LOAD_MODEL": model_id,
        "DOCLOOP_LOAD_LEDGER": str(out / "ledger.json"),
    }
    command = [
        sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
        "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{int(minutes * 60)}s",
        "--host", url, "--csv", str(out / "load"), "--only-summary", "--stop-timeout", "150",
    ]  # fmt: skip
    return subprocess.run(command, env=env, cwd=HERE).returncode


def _print_stats(out: Path) -> int:
    """The per-request table locust wrote; returns the number of failed requests."""
    failures = 0
    print("| request | count | failures | median ms | p95 ms | req/s |")
    print("|---|---|---|---|---|---|")
    with (out / "load_stats.csv").open() as f:
        for row in csv.DictReader(f):
            failures += int(row["Failure Count"]) if row["Name"] != "Aggregated" else 0
            print(f"| {row['Type']} {row['Name']} | {row['Request Count']} | "
                  f"{row['Failure Count']} | {row['50%']} | {row['95%']} | "
                  f"{float(row['Requests/s']):.2f} |")  # fmt: skip
    return failures


def _count(home: Path, model_id: str, ledger: list[str]) -> list[str]:
    """Problems found comparing the stored predictions with the ledger (empty when none)."""
    ctx = build_context(Settings(home=home, bootstrap_api_key=KEY, inprocess_worker=False))
    with ctx.session() as s:
        rows = dict(
            s.execute(
                select(InferenceFile.id, InferenceFile.status).where(
                    InferenceFile.model_id == model_id
                )
            ).all()
        )
        pages = dict(
            s.execute(
                select(InferencePage.file_id, func.count())
                .join(InferenceFile, InferenceFile.id == InferencePage.file_id)
                .where(InferenceFile.model_id == model_id)
                .group_by(InferencePage.file_id)
            ).all()
        )
    ctx.close()
    expected = set(ledger)
    problems = []
    if len(expected) != len(ledger):
        problems.append(f"{len(ledger) - len(expected)} request_file_ids handed out twice")
    if missing := expected - rows.keys():
        problems.append(f"{len(missing)} predictions a client was given are not stored")
    if extra := rows.keys() - expected:
        problems.append(f"{len(extra)} stored predictions no client was given")
    if not_done := [i for i, status in rows.items() if status != "done"]:
        problems.append(f"{len(not_done)} predictions not done")
    if bad := [i for i in rows if pages.get(i) != 1]:
        problems.append(f"{len(bad)} predictions without exactly one stored page")
    print(f"stored predictions: {len(rows)}, request_file_ids given to clients: {len(ledger)}, "
          f"pages: {sum(pages.values())}")  # fmt: skip
    return problems


def _wait_for_queue(home: Path, model_id: str, limit_s: float = 300) -> None:
    ctx = build_context(Settings(home=home, inprocess_worker=False))
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        with ctx.session() as s:
            pending = s.scalar(
                select(func.count()).where(
                    InferenceFile.model_id == model_id, InferenceFile.status == "pending"
                )
            )
        if not pending:
            break
        time.sleep(1)
    ctx.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--minutes", type=float, default=5)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="docloop-load-"))
    (model_id,) = train_sample_models(home, 1)
    out = home / "locust"
    out.mkdir()
    with running_server(home, worker=True) as server:
        code = _run_locust(server.url, model_id, args.users, args.minutes, out)
        _wait_for_queue(home, model_id)
    failures = _print_stats(out)
    ledger = json.loads((out / "ledger.json").read_text())
    problems = _count(home, model_id, ledger)
    for p in problems:
        print(f"PROBLEM: {p}")
    ok = code == 0 and failures == 0 and not problems
    print(f"load test: {args.users} users, {args.minutes:g} min, failed requests {failures}, "
          f"count problems {len(problems)}: {'PASS' if ok else 'FAIL'}")  # fmt: skip
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
