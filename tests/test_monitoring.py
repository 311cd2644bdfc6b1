"""Drift alerts and training outcomes through the notification channel: a webhook receiver and
an SMTP server on loopback get what an operator would, once per change."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from docloop.api.app import create_app
from docloop.db.tables import TrainingRun
from docloop.domain import JobKind
from docloop.services import auth, jobs, models, monitoring
from docloop.services.context import AppContext, build_context
from tests import kpi_history
from tests.conftest import _ENGINE, basic, make_settings

RECENT = 120  # drifted files added to the monitoring window (the default minimum is 100)


@dataclass
class Inbox:
    """What the loopback receivers got: webhook bodies and raw e-mails."""

    posts: list[dict] = field(default_factory=list)
    mails: list[str] = field(default_factory=list)


class _Smtp(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greet, accept one message per DATA, keep it."""

    def handle(self) -> None:
        self.wfile.write(b"220 loopback\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.wfile.write(b"250 loopback\r\n")
            elif verb == b"DATA":
                self.wfile.write(b"354 end with .\r\n")
                body = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    body += chunk
                self.server.inbox.mails.append(body.decode())  # type: ignore[attr-defined]
                self.wfile.write(b"250 kept\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, str, int]]:
    box = Inbox()

    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            box.posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

    web = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    smtp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Smtp)
    smtp.inbox = box  # type: ignore[attr-defined]
    for server in (web, smtp):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield box, f"http://127.0.0.1:{web.server_address[1]}/alerts", smtp.server_address[1]
    for server in (web, smtp):
        server.shutdown()
        server.server_close()


@pytest.fixture
def watched(tmp_path: Path, inbox, any_db_url) -> Iterator[tuple[AppContext, Inbox]]:  # type: ignore[no-untyped-def]
    """A context on each database whose notifications reach the loopback receivers."""
    box, url, port = inbox
    settings = make_settings(
        tmp_path / "home", any_db_url, alert_webhook_url=url, smtp_host="127.0.0.1", smtp_port=port,
        smtp_starttls=False, alert_emails="ops@example.com, lead@example.com",
        monitor_interval_s=0,
    )  # fmt: skip
    ctx = build_context(settings, ocr=_ENGINE)
    yield ctx, box
    ctx.close()


def test_a_seeded_drift_fires_one_alert_by_webhook_and_email(watched) -> None:  # type: ignore[no-untyped-def]
    ctx, box = watched
    who = auth.authenticate(ctx, "test-admin-key")
    history = kpi_history.seed(ctx, who)
    kpi_history.add_recent(ctx, history.model_id, RECENT)

    sent = monitoring.check(ctx)
    fired = {(n.details["figure"], n.details["label"]) for n in sent}
    assert ("psi", "total") in fired and ("low_confidence_share", None) in fired
    assert ("psi", "date") not in fired  # the dates kept their confidence
    psi = next(p for p in box.posts if p["details"]["label"] == "total")
    assert psi["event"] == "alert.firing" and psi["model_id"] == history.model_id
    assert psi["details"]["value"] >= ctx.settings.alert_psi
    assert len(box.posts) == len(sent) and len(box.mails) == len(sent)
    assert any("psi of label 'total' crossed" in m for m in box.mails)
    assert "To: ops@example.com, lead@example.com" in box.mails[0]

    metrics = generate_latest(ctx.metrics.registry).decode()
    assert f'docloop_drift_psi{{label="total",model="{history.model_id}"}}' in metrics
    assert f'docloop_low_confidence_files_share{{model="{history.model_id}"}} 1.0' in metrics

    assert monitoring.check(ctx) == []  # still firing: not sent again
    assert len(box.posts) == len(sent)

    with TestClient(create_app(ctx.settings, ctx=ctx), headers=basic("test-admin-key")) as c:
        status = c.get(f"/api/v1/models/{history.model_id}/monitoring").json()
    firing = {(a["figure"], a["label"]) for a in status["alerts"] if a["firing"]}
    assert firing == fired
    assert status["figures"]["files"] == kpi_history.FILES_PER_WEEK + RECENT


def test_a_figure_back_under_its_threshold_is_announced_as_resolved(watched) -> None:  # type: ignore[no-untyped-def]
    ctx, box = watched
    history = kpi_history.seed(ctx, auth.authenticate(ctx, "test-admin-key"))
    kpi_history.add_recent(ctx, history.model_id, RECENT)
    monitoring.check(ctx)
    ctx.settings.alert_low_confidence_share = 1.01  # the operator raises the threshold
    resolved = monitoring.check(ctx)
    assert [(n.event, n.details["figure"]) for n in resolved] == [
        ("alert.resolved", "low_confidence_share")
    ]
    assert box.posts[-1]["model_id"] == history.model_id


def test_a_training_failure_is_announced_once_when_no_attempt_is_left(watched) -> None:  # type: ignore[no-untyped-def]
    ctx, box = watched
    who = auth.authenticate(ctx, "test-admin-key")
    model = models.create_model(ctx, who, categories=["total"], name="receipts")
    with ctx.session() as s:
        run = TrainingRun(id="run-1", model_id=model.id, status="queued", steps=[])
        s.add(run)
        job = jobs.enqueue(s, JobKind.TRAIN, {"model_id": model.id, "run_id": "run-1"},
                           model_id=model.id, max_attempts=2)  # fmt: skip
        run.job_id = job.id
    claimed = jobs.claim(ctx, "w1", [JobKind.TRAIN])
    assert claimed is not None
    with ctx.session() as s:  # what a failed attempt records before the queue decides
        s.get(TrainingRun, "run-1").status = "failed"
    assert not jobs.fail(ctx, claimed.id, "w1", "out of memory", retryable=True)
    assert monitoring.check(ctx) == []  # it will be tried again: nothing to announce yet

    with ctx.session() as s:
        s.get(type(job), claimed.id).run_after = None
    again = jobs.claim(ctx, "w1", [JobKind.TRAIN])
    assert again is not None and jobs.fail(ctx, again.id, "w1", "out of memory", retryable=True)
    sent = monitoring.check(ctx)
    assert [n.event for n in sent] == ["training.failed"]
    assert box.posts[-1]["details"]["error"] == "out of memory"
    assert "training of model receipts failed" in box.mails[-1]
    assert monitoring.check(ctx) == []


def test_a_finished_training_is_announced_with_its_version(watched) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import training_notices

    ctx, box = watched
    history = kpi_history.seed(ctx, auth.authenticate(ctx, "test-admin-key"))
    with ctx.session() as s:
        run = s.query(TrainingRun).filter_by(model_id=history.model_id).first()
        run.announced_at = None
        run.report = {**run.report, "promoted": True, "promotion": "first version"}
        run_id = run.id
    notice = training_notices.announce(ctx, run_id)
    assert notice is not None and notice.event == "training.succeeded"
    assert notice.details["version"] in (1, 2) and notice.details["promoted"]
    assert box.posts[-1]["event"] == "training.succeeded"
    assert training_notices.announce(ctx, run_id) is None


def test_docloop_monitor_checks_once(tmp_path: Path, inbox) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from docloop.cli import app

    box, url, _ = inbox
    ctx = build_context(make_settings(tmp_path), ocr=_ENGINE)
    history = kpi_history.seed(ctx, auth.authenticate(ctx, "test-admin-key"))
    kpi_history.add_recent(ctx, history.model_id, RECENT)
    ctx.close()
    out = CliRunner().invoke(
        app, ["monitor", "--home", str(tmp_path)], env={"DOCLOOP_ALERT_WEBHOOK_URL": url}
    )
    assert out.exit_code == 0, out.output
    assert "alert.firing: model invoices: psi of label 'total' crossed" in out.output
    assert {p["event"] for p in box.posts} == {"alert.firing"}
