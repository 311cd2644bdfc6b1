"""The ``docloop`` command: a thin shell over the services, with progress bars for long work."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from typer._click.exceptions import ClickException, NoArgsIsHelpError
from typer.core import TyperGroup

from docloop.config import Settings
from docloop.domain import JobKind, ModelState
from docloop.errors import DocloopError, InvalidInput
from docloop.services import (
    auth,
    dataset_versions,
    datasets,
    importers,
    model_versions,
    models,
    predictions,
    prefixes,
    runs,
    training,
    users,
)
from docloop.services.context import AppContext, build_context
from docloop.views import given

if TYPE_CHECKING:
    from docloop.client import Client

console = Console()
err = Console(stderr=True)


class _OneLineErrors(TyperGroup):
    """Every user mistake (bad option, missing file, unknown id) is one line and exit status 2.

    Click's usage errors are boxes of several lines and an unreadable file is a traceback;
    scripts and people both read one line better. The exit status of a command (``typer.Exit``)
    is kept."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        from docloop.client import ApiError, ClientError

        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except NoArgsIsHelpError as exc:
            console.print(exc.format_message(), highlight=False, markup=False)
            code = exc.exit_code
        except ClickException as exc:  # typer vendors click: its usage errors are these
            code = _fail(exc.format_message(), exc.exit_code)
        except typer.Abort:
            code = _fail("aborted", 1)
        except DocloopError as exc:
            code = _fail(exc.message, 2)
        except ApiError as exc:
            code = _fail(f"the server said {exc.status_code}: {exc.message}",
                         2 if exc.status_code < 500 else 1)  # fmt: skip
        except ClientError as exc:
            code = _fail(str(exc), 1)
        except OSError as exc:
            code = _fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), 2)
        if not standalone_mode:
            return code
        sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int) -> int:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True, highlight=False, markup=True)
    return code


app = typer.Typer(
    help="docloop: train, serve and review custom OCR models.",
    no_args_is_help=True,
    cls=_OneLineErrors,
)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
models_app = typer.Typer(
    help="List and create models; switch the version they serve.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
data_app = typer.Typer(
    help="Dataset versions: what each training learned from.", no_args_is_help=True
)
app.add_typer(data_app, name="datasets")
users_app = typer.Typer(help="People who sign in to the web app.", no_args_is_help=True)
app.add_typer(users_app, name="users")
runs_app = typer.Typer(help="Training runs: what made each model version.", no_args_is_help=True)
app.add_typer(runs_app, name="runs")
k8s_app = typer.Typer(help="Kubernetes manifests docloop fills in.", no_args_is_help=True)
app.add_typer(k8s_app, name="k8s")

HomeOpt = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Data folder (default $DOCLOOP_HOME, else the per-user data folder)."
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="DOCLOOP_URL",
        help="Act on this docloop server (with $DOCLOOP_API_KEY) instead of a local home.",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]
WorkspaceOpt = Annotated[str, typer.Option("--workspace", "-w", help="Workspace to act in.")]
LinesOpt = Annotated[
    bool,
    typer.Option(
        "--lines/--no-lines",
        help="Upload each image's full-page transcription, lines/<name>.tsv, when there is one.",
    ),
]


def _settings(home: Path | None, **overrides: object) -> Settings:
    """The settings, after saying on stderr which home they use (stdout stays for output)."""
    if home is not None:
        overrides["home"] = home
    settings = Settings(**overrides)  # type: ignore[arg-type]
    err.print(f"home: {settings.home}", soft_wrap=True, highlight=False)
    return settings


def _remote(url: str) -> Client:
    """The SDK client for ``--url`` (the key from $DOCLOOP_API_KEY), after saying which URL."""
    from docloop.client import Client

    err.print(f"url: {url}", soft_wrap=True, highlight=False)
    return Client(url, os.environ.get("DOCLOOP_API_KEY"))


def _model_id(ctx: AppContext, who: auth.Principal, given: str) -> str:
    """The model whose id is ``given`` or starts with it; unknown or ambiguous is an error."""
    return prefixes.match(given, [m.id for m in models.list_models(ctx, who)], "model")


def _ctx(home: Path | None) -> AppContext:
    return build_context(_settings(home))


@contextmanager
def _user_errors() -> Iterator[None]:
    """A refusal from the services becomes one line on stderr and exit status 2."""
    try:
        yield
    except DocloopError as exc:
        raise typer.Exit(_fail(exc.message, 2)) from None


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    home: HomeOpt = None,
    worker: Annotated[
        bool,
        typer.Option(help="Run a worker inside the server (--no-worker: a stateless API replica)."),
    ] = True,
) -> None:
    """Run the API and, unless --no-worker, an in-process worker.

    SIGTERM drains in-flight requests (and stops the in-process worker the way `docloop worker`
    stops); a second signal stops at once."""
    import uvicorn
    from threadpoolctl import threadpool_limits

    from docloop.api.app import create_app
    from docloop.api.server import GracefulServer

    settings = _settings(home, inprocess_worker=worker)
    # One core per request: numpy's BLAS threads would spin against the other requests' OCR
    # engines (8 concurrent clients got 1.54x one client's rate with them, 1.7-1.9x without).
    threadpool_limits(limits=settings.ocr_threads, user_api="blas")
    config = uvicorn.Config(
        create_app(settings), host=host, port=port, log_level="info",
        timeout_graceful_shutdown=round(settings.shutdown_grace_s),
    )  # fmt: skip
    GracefulServer(config).run()


def _job_kinds(queues: str | None) -> list[JobKind] | None:
    """``--queues ocr,predict`` as job kinds; None (every kind) when not given."""
    if queues is None:
        return None
    names = [n.strip() for n in queues.split(",") if n.strip()]
    unknown = [n for n in names if n not in {k.value for k in JobKind}]
    if unknown or not names:
        known = ", ".join(k.value for k in JobKind)
        raise InvalidInput(
            f"unknown job kind {', '.join(unknown) or '(none)'} in --queues (known: {known})"
        )
    return [JobKind(n) for n in names]


@app.command("worker")
def worker_cmd(
    home: HomeOpt = None,
    queues: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated job kinds to run, e.g. train, or ocr,predict,export,webhook "
            "(default: every kind)."
        ),
    ] = None,
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
    max_jobs: Annotated[int | None, typer.Option(help="Exit after this many jobs.")] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            envvar="DOCLOOP_WORKER_METRICS_PORT",
            help="Serve this worker's Prometheus metrics on this port (off when unset).",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(envvar="DOCLOOP_WORKER_METRICS_HOST", help="Address for --metrics-port.")
    ] = "0.0.0.0",
) -> None:
    """Run a worker against the same database and file store as the server.

    SIGTERM or SIGINT: a short job is finished, a training saves its state and hands its job
    back to the queue at once, then the worker exits 0; a second signal exits now."""
    import signal

    from docloop.worker.loop import Worker, WorkerPool, wait_for_schema

    with _user_errors():
        kinds = _job_kinds(queues)
    ctx = _ctx(home)
    stopping = threading.Event()
    runner: Worker | WorkerPool
    with _user_errors():  # a worker that can run none of its kinds (no PyTorch) says why
        if max_jobs is not None:  # exactly that many jobs: one loop
            runner = Worker(ctx, kinds=kinds)
            owner, threads = runner.owner, 1
        else:
            runner = WorkerPool(ctx, kinds)
            owner, threads = runner.workers[0].owner, len(runner.workers)
    metrics = None if metrics_port is None else ctx.metrics.serve(metrics_host, metrics_port)
    if metrics is not None:
        console.print(f"metrics on http://{metrics_host}:{metrics_port}/metrics")

    def on_signal(signum: int, _frame: object) -> None:
        if stopping.is_set():
            err.print("second signal: stopping now")
            _exit_now(128 + signum)
        stopping.set()
        err.print("stopping: finishing short jobs, handing a training back")
        runner.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    names = ",".join(k.value for k in kinds) if kinds else "all"
    console.print(f"worker {owner} started, {threads} job thread(s), queues: {names}")
    if isinstance(runner, WorkerPool):
        n = runner.run(burst=burst)
    else:
        n = runner.run(max_jobs=max_jobs, burst=burst) if wait_for_schema(ctx, stopping) else 0
    if metrics is not None:
        metrics.shutdown()
        metrics.server_close()
    ctx.close()
    console.print(f"worker ran {n} job(s)")
    _exit_now(0)


def _exit_now(status: int) -> None:
    """End the process without the interpreter's teardown: unloading PyTorch and ONNX Runtime
    took 9 to 14 s on a busy 2-core machine after a training was handed back (1 s without),
    and an orchestrator waits for that exit before it starts the replacement."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


@app.command()
def migrate(home: HomeOpt = None) -> None:
    """Bring the database to this docloop's schema and create the bootstrap key if one is set.

    Run it once per deployment or upgrade, before the replicas (on PostgreSQL they do not
    migrate by themselves, so that they never race to); prints the revision."""
    from docloop.db.migrate import current_revision

    ctx = build_context(_settings(home, auto_migrate=True))
    console.print(f"database at revision {current_revision(ctx.engine)}")
    ctx.close()


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what the key is for.")],
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    admin: bool = False,
    home: HomeOpt = None,
) -> None:
    """Create an API key and print it (it is shown only once)."""
    console.print(
        auth.create_key(_ctx(home), name=name, workspace=workspace, admin=admin), soft_wrap=True
    )


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option("--email", help="The user's sign-in email.")],
    role: Annotated[
        str, typer.Option("--role", help="admin, data_scientist, annotator or reviewer.")
    ],
    password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="DOCLOOP_NEW_USER_PASSWORD",
            help="Prompted for when not given.",
        ),
    ],
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
) -> None:
    """Create a user who signs in to the web app with a password."""
    with _user_errors():
        users.create_user(
            _ctx(home), email=email, password=password, role=role, workspace=workspace
        )
    console.print(f"created {email} ({role})")


@users_app.command("list")
def users_list(home: HomeOpt = None) -> None:
    table = Table("email", "role", "disabled")
    for u in users.list_users(_ctx(home)):
        table.add_row(str(u["email"]), str(u["role"]), str(u["disabled"] or ""))
    console.print(table)


@keys_app.command("list")
def keys_list(home: HomeOpt = None) -> None:
    table = Table("id", "name", "workspace", "prefix", "admin", "created", "revoked")
    for k in auth.list_keys(_ctx(home)):
        table.add_row(
            k.id,
            k.name,
            k.workspace,
            k.prefix + "…",
            str(k.is_admin),
            k.created_at.isoformat(timespec="seconds"),
            str(k.revoked),
        )
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: str, home: HomeOpt = None) -> None:
    """Revoke a key by id or prefix."""
    with _user_errors():
        k = auth.revoke_key(_ctx(home), key_id)
    console.print(f"revoked {k.id} ({k.name})")


@models_app.command("list")
def models_list(
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
    url: UrlOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The models, with whole ids (or --json)."""
    if url:
        with _remote(url) as dl:
            found = [asdict(m) for m in dl.models()]
    else:
        ctx = _ctx(home)
        found = [
            {**asdict(m), "state": int(m.state),
             "categories": [{"name": n, "count": c} for n, c in m.categories]}
            for m in models.list_models(ctx, auth.local_principal(ctx, workspace))
        ]  # fmt: skip
    if as_json:
        console.print_json(data=found)
        return
    table = Table("model_id", "name", "state", "status", "labels", "files", "version")
    table.columns[0].no_wrap = True
    table.columns[0].min_width = 36
    for m in found:
        labels = ", ".join(f"{c['name']} ({c['count']})" for c in m["categories"])
        table.add_row(
            m["id"], m["name"], str(m["state"]), m["status"], labels, str(m["files"]),
            str(m["version"] or "-"),
        )  # fmt: skip
    console.print(table)


@data_app.command("list")
def datasets_list(
    model_id: str, workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE, home: HomeOpt = None
) -> None:
    """The dataset versions of a model's trainings, oldest first."""
    ctx = _ctx(home)
    table = Table("dataset_version", "digest", "files", "annotations", "created", "model versions")
    who = auth.local_principal(ctx, workspace)
    with _user_errors():
        found = dataset_versions.list_versions(ctx, who, _model_id(ctx, who, model_id))
    for v in found:
        table.add_row(
            v.id, v.digest[:12], str(v.files), str(v.annotations),
            v.created_at[:19], ", ".join(map(str, v.model_versions)),
        )  # fmt: skip
    console.print(table)


@data_app.command("diff")
def datasets_diff(
    model_id: str,
    old: str,
    new: str,
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
) -> None:
    """Files added, removed and re-annotated from dataset version OLD to NEW (JSON)."""
    ctx = _ctx(home)
    who = auth.local_principal(ctx, workspace)
    with _user_errors():
        changes = dataset_versions.diff(ctx, who, _model_id(ctx, who, model_id), old, new)
    console.print_json(data=given(changes))


@models_app.command("create")
def models_create(
    labels: Annotated[str, typer.Option(help="Comma-separated field names.")],
    name: str | None = None,
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
    url: UrlOpt = None,
) -> None:
    """Create a model and print its id."""
    if url:
        with _remote(url) as dl:
            console.print(dl.create_model(labels.split(","), name).id)
        return
    ctx = _ctx(home)
    with _user_errors():
        m = models.create_model(
            ctx, auth.local_principal(ctx, workspace), categories=labels.split(","), name=name
        )
    console.print(m.id)


@models_app.command("promote")
def models_promote(
    model_id: str,
    version: Annotated[int, typer.Option("--version", "-v", help="Version number to serve.")],
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
) -> None:
    """Serve VERSION from now on, whatever its validation figures."""
    ctx = _ctx(home)
    with _user_errors():
        who = auth.local_principal(ctx, workspace)
        m = model_versions.promote(ctx, who, _model_id(ctx, who, model_id), version)
    console.print(f"model {m.id} now serves version {m.version}")


@models_app.command("rollback")
def models_rollback(
    model_id: str, workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE, home: HomeOpt = None
) -> None:
    """Serve again the version the current one replaced."""
    ctx = _ctx(home)
    with _user_errors():
        who = auth.local_principal(ctx, workspace)
        m = model_versions.rollback(ctx, who, _model_id(ctx, who, model_id))
    console.print(f"model {m.id} now serves version {m.version}")


@models_app.command("versions")
def models_versions(
    model_id: str, workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE, home: HomeOpt = None
) -> None:
    """The trained versions with their validation figures, and each change of the served one."""
    ctx = _ctx(home)
    who = auth.local_principal(ctx, workspace)
    with _user_errors():
        model_id = _model_id(ctx, who, model_id)
        m = models.get_model(ctx, who, model_id)
        changes = model_versions.history(ctx, who, model_id)
    table = Table("version", "serving", "val text accuracy", "pages", "train s", "created")
    for v in m.versions:
        table.add_row(
            str(v["number"]), "yes" if v["number"] == m.version else "",
            str(v["metrics"].get("val_text_accuracy", "-")),
            str(v["metrics"].get("train_pages", "-")), str(v["train_seconds"]),
            v["created_at"][:19],
        )  # fmt: skip
    console.print(table)
    for c in changes:
        console.print(f"{c.at[:19]} {c.action:>8} -> version {c.version}: {c.reason}")


@runs_app.command("list")
def runs_list(
    model_id: str, workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE, home: HomeOpt = None
) -> None:
    """The model's trainings, newest first."""
    ctx = _ctx(home)
    who = auth.local_principal(ctx, workspace)
    with _user_errors():
        found = runs.list_runs(ctx, who, _model_id(ctx, who, model_id))
    table = Table("run", "status", "started", "version", "promoted", "cached steps",
                  *runs.SUMMARY_METRICS)  # fmt: skip
    for r in found:
        table.add_row(
            r.id, r.status, r.started_at[:19], str(r.model_version or "-"),
            str(r.promoted if r.promoted is not None else "-"),
            ", ".join(r.cached_steps) or "-",
            *(str(r.metrics.get(k, "-")) for k in runs.SUMMARY_METRICS),
        )  # fmt: skip
    console.print(table)


@runs_app.command("show")
def runs_show(
    run_id: str, workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE, home: HomeOpt = None
) -> None:
    """Everything recorded about one training (JSON): steps, report, parameters, figures."""
    ctx = _ctx(home)
    with _user_errors():
        shown = runs.show_run(ctx, auth.local_principal(ctx, workspace), run_id)
    console.print_json(data=given(shown))


@runs_app.command("compare")
def runs_compare(
    run_ids: list[str], workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE, home: HomeOpt = None
) -> None:
    """Parameters and final figures of two or more runs side by side (differences in bold)."""
    ctx = _ctx(home)
    with _user_errors():
        found = runs.compare(ctx, auth.local_principal(ctx, workspace), run_ids)
    table = Table("", *found.runs)
    for kind, side_by_side in (("params", found.params), ("metrics", found.metrics)):
        for key, values in side_by_side.items():
            name = f"{kind}.{key}"
            style = "bold" if name in found.differs else None
            table.add_row(name, *(str(v) if v is not None else "-" for v in values), style=style)
    console.print(table)


def _import(
    ctx: AppContext,
    who: auth.Principal,
    model_id: str,
    folder: Path,
    fmt: str | None,
    lines: bool,
) -> int:
    """Upload each annotated image, with its ``lines/<name>.tsv`` transcription if ``lines``."""
    items = importers.read(folder, fmt)
    done = 0
    with _bar() as bar:
        task = bar.add_task(f"uploading {folder.name}", total=len(items))
        for path, objects in items:
            try:
                entry: dict[str, object] = {"filename": path.name, "object": objects}
                if lines:
                    entry["transcription"] = importers.transcription_for(folder, path)
                datasets.add_files(
                    ctx, who, model_id, [datasets.IncomingFile(path.name, path.read_bytes())],
                    [entry],
                )  # fmt: skip
                done += 1
            except DocloopError as exc:
                err.print(f"[yellow]skipped[/yellow] {path.name}: {exc.message}")
            bar.advance(task)
    return done


FolderArg = Annotated[Path, typer.Argument(exists=True, file_okay=False, help="Dataset folder.")]


@app.command()
def monitor(home: HomeOpt = None) -> None:
    """Check drift and health alerts and announce ended trainings once (e.g. from cron, when
    no server runs the periodic check)."""
    from docloop.services import monitoring

    sent = monitoring.check(_ctx(home))
    for notice in sent:
        console.print(f"{notice.event}: {notice.subject}")
    console.print(f"{len(sent)} notification(s) sent")


@app.command()
def upload(
    folder: FolderArg,
    model: Annotated[str, typer.Option("--model", "-m", help="Model id or unique prefix.")],
    lines: LinesOpt = True,
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
    url: UrlOpt = None,
) -> None:
    """Upload a folder of images/ with annotations/<name>.json (the Nanonets upload shape)."""
    if url:
        with _remote(url) as dl, _bar() as bar:
            model = prefixes.match(model, [m.id for m in dl.models()], "model")
            task = bar.add_task(f"uploading {folder.name}", total=None)
            stored = dl.upload_folder(
                model, folder, fmt="nanonets", lines=lines,
                progress=lambda done, total, _: bar.update(task, completed=done, total=total),
            )  # fmt: skip
        console.print(f"uploaded {len(stored)} file(s)")
        return
    ctx = _ctx(home)
    who = auth.local_principal(ctx, workspace)
    n = _import(ctx, who, _model_id(ctx, who, model), folder, "nanonets", lines)
    console.print(f"uploaded {n} file(s)")


@app.command("import")
def import_cmd(
    folder: FolderArg,
    model: Annotated[str, typer.Option("--model", "-m", help="Model id or unique prefix.")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="nanonets, voc or coco (default: detect).")
    ] = None,
    lines: LinesOpt = True,
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
) -> None:
    """Import an annotated folder in Nanonets JSON, Pascal VOC XML or COCO format."""
    ctx = _ctx(home)
    who = auth.local_principal(ctx, workspace)
    with _user_errors():
        n = _import(ctx, who, _model_id(ctx, who, model), folder, fmt, lines)
    console.print(f"imported {n} file(s)")


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=err,
    )


def _wait_trained(ctx: AppContext, who: auth.Principal, model_id: str) -> models.ModelInfo:
    with _bar() as bar:
        task = bar.add_task("training", total=1.0)
        while True:
            m = models.get_model(ctx, who, model_id)
            bar.update(task, completed=m.progress or 0.0, description=f"training ({m.status})")
            if m.state in (ModelState.HOSTED, ModelState.FAILED) and m.progress is None:
                bar.update(task, completed=1.0)
                return m
            time.sleep(1)


@app.command()
def train(
    model: str,
    wait: Annotated[bool, typer.Option(help="Train here and show progress until done.")] = True,
    force: Annotated[
        bool, typer.Option(help="Serve the new version even if it validates worse.")
    ] = False,
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
    url: UrlOpt = None,
) -> None:
    """Queue a training; with --wait (default) show its progress until done.

    Locally, --wait runs a worker here; with --url the server's workers train."""
    from docloop.worker.loop import Worker

    if url:
        _train_remote(url, model, wait=wait, force=force)
        return
    ctx = _ctx(home)
    who = auth.local_principal(ctx, workspace)
    with _user_errors():
        model = _model_id(ctx, who, model)
        training.request_training(ctx, who, model, force=force)
    if not wait:
        console.print("queued")
        return
    worker = Worker(ctx)
    thread = threading.Thread(target=worker.run, kwargs={"burst": True}, daemon=True)
    thread.start()
    m = _wait_trained(ctx, who, model)
    thread.join()
    console.print(f"state {int(m.state)}: {m.status}")
    if m.state != ModelState.HOSTED:
        raise typer.Exit(1)


def _train_remote(url: str, model: str, *, wait: bool, force: bool) -> None:
    with _remote(url) as dl:
        model = prefixes.match(model, [m.id for m in dl.models()], "model")
        dl.train(model, force=force)
        if not wait:
            console.print("queued")
            return
        with _bar() as bar:
            task = bar.add_task("training", total=1.0)
            while not (m := dl.model(model)).finished:
                bar.update(task, completed=m.progress or 0.0, description=f"training ({m.status})")
                time.sleep(1)
            bar.update(task, completed=1.0)
    console.print(f"state {m.state}: {m.status}")
    if not m.hosted:
        raise typer.Exit(1)


@app.command()
def predict(
    model: Annotated[str, typer.Argument(help="Model id or unique prefix.")],
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False)],
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
    url: UrlOpt = None,
) -> None:
    """Predict on images or PDFs and print the v2-shaped JSON (``result``: one entry a page)."""
    if url:
        with _remote(url) as dl:
            model = prefixes.match(model, [m.id for m in dl.models()], "model")
            result = [page.raw for f in files for page in dl.predict(model, f)]
        console.print_json(data={"message": "Success", "result": result})
        return
    ctx = _ctx(home)
    who = auth.local_principal(ctx, workspace)
    incoming = [datasets.IncomingFile(f.name, f.read_bytes()) for f in files]
    with _user_errors():
        result = predictions.predict_files(ctx, who, _model_id(ctx, who, model), incoming)
    console.print_json(json.dumps({"message": "Success", "result": given(result)}))


@app.command("annotate-next")
def annotate_next(
    model: Annotated[str, typer.Argument(help="Model id or unique prefix.")],
    n: Annotated[int, typer.Option("-n", help="How many files (1 to 200).")] = 25,
    workspace: WorkspaceOpt = auth.DEFAULT_WORKSPACE,
    home: HomeOpt = None,
    url: UrlOpt = None,
) -> None:
    """List the training files without annotations most useful to annotate next (the trained
    model's doubt and how unlike its training pages they are): usefulness, file, id."""
    if url:
        with _remote(url) as dl:
            model = prefixes.match(model, [m.id for m in dl.models()], "model")
            found = dl.annotation_queue(model, n)
    else:
        from docloop.services import active_learning

        ctx = _ctx(home)
        who = auth.local_principal(ctx, workspace)
        with _user_errors():
            picked = active_learning.next_to_annotate(ctx, who, _model_id(ctx, who, model), n)
        found = [asdict(f) for f in picked]
    for f in found:
        console.print(f"{f['usefulness']:.3f}\t{f['filename']}\t{f['id']}", highlight=False)


@app.command()
def demo(host: str = "127.0.0.1", port: int = 8000, home: HomeOpt = None) -> None:
    """Train a number-plate model on the bundled sample, then serve it."""
    import uvicorn

    from docloop.api.app import create_app
    from docloop.samples import PLATES

    settings = _settings(home)
    ctx = build_context(settings)
    # Serving starts first: a port another program holds is said now, not after a training
    # whose printed URL and key would then lead to that other program.
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, ctx=ctx), host=host, port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    if not server.started:
        err.print(f"[red]cannot serve on {host}:{port}[/red] (in use?); try --port")
        raise typer.Exit(1)
    key = settings.bootstrap_api_key or auth.create_key(ctx, name="demo", admin=True)
    who = auth.authenticate(ctx, key)
    model = models.create_model(ctx, who, categories=["number_plate"], name="number plates (demo)")
    console.print(f"model {model.id}: uploading the bundled sample")
    _import(ctx, who, model.id, PLATES, "nanonets", lines=False)
    training.request_training(ctx, who, model.id)
    m = _wait_trained(ctx, who, model.id)
    if m.state != ModelState.HOSTED:
        err.print(f"[red]training failed:[/red] {m.status}")
        raise typer.Exit(1)
    sample = sorted((PLATES / "unseen").iterdir())[0]
    result = predictions.predict_files(
        ctx, who, model.id, [datasets.IncomingFile(sample.name, sample.read_bytes())]
    )
    found = [(p["label"], p["ocr_text"], p["score"]) for p in result[0].prediction]
    console.print(
        f"\n[bold]docloop is serving on http://{host}:{port}[/bold]  (API key: {key})",
        soft_wrap=True,
    )
    console.print(f"prediction on {sample.name}: {found}")
    console.print("try it:")
    console.print(
        f"  curl -u {key}: -F file=@{os.path.relpath(sample)} "
        f"http://{host}:{port}/api/v2/OCR/Model/{model.id}/LabelFile/",
        soft_wrap=True,
    )
    console.print(
        f"web app: http://{host}:{port}/ (first create a user: "
        "docloop users create --email you@example.com --role admin)",
        soft_wrap=True,
    )
    console.print("press Ctrl-C to stop")
    try:
        thread.join()
    except KeyboardInterrupt:
        server.should_exit = True


@k8s_app.command("training-job")
def k8s_training_job(
    folder: Annotated[
        str, typer.Option(help="The training folder the worker logs ('train: ... in DIR').")
    ],
    image: Annotated[str, typer.Option(help="The docloop-trainer image.")],
    claim: Annotated[str, typer.Option(help="ReadWriteMany PersistentVolumeClaim of the folder.")],
    mount: Annotated[str, typer.Option(help="Where the claim is mounted (worker and Job).")],
    nodes: Annotated[int, typer.Option(help="Pods in the Job; the worker is one more.")] = 2,
    processes: Annotated[int, typer.Option(help="torchrun processes per node.")] = 1,
    name: str = "docloop-training",
    namespace: str = "docloop",
    cpu: Annotated[str, typer.Option(help="CPU of each pod (request = limit).")] = "4",
    memory: Annotated[str, typer.Option(help="Memory of each pod (request = limit).")] = "8Gi",
) -> None:
    """Print the Indexed Job (torchrun, c10d rendezvous) that trains FOLDER on NODES more pods.

    Apply it with `kubectl apply -f -`; its header says what the worker's settings must be."""
    from pathlib import PurePosixPath

    from docloop.ml.k8s_training import TrainingJobSpec, render_training_job

    spec = TrainingJobSpec(
        folder=PurePosixPath(folder), image=image, claim=claim, mount=PurePosixPath(mount),
        nodes=nodes, processes=processes, name=name, namespace=namespace, cpu=cpu, memory=memory,
    )  # fmt: skip
    with _user_errors():
        typer.echo(render_training_job(spec), nl=False)


if __name__ == "__main__":
    app()
