"""Training use cases: queue a training, run it in a worker, register the resulting version."""

from __future__ import annotations

import importlib.util
import json
import shutil
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from docloop import __version__
from docloop.cpu_share import limit_torch_threads, usable_cores
from docloop.db.tables import Model, ModelVersion, TrainingFile, TrainingRun, utcnow
from docloop.domain import Annotation, Box, JobKind, OcrToken
from docloop.errors import Conflict, Interrupted, InvalidInput
from docloop.ml.data import LabelledPage
from docloop.ml.io import decode
from docloop.ml.tokens import split_words
from docloop.services import (
    dataset_versions,
    jobs,
    model_versions,
    tracking,
    training_notices,
    validation,
)
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import ModelInfo, describe, load_model
from docloop.services.ocr import read_blobs
from docloop.services.pipeline import Pipeline, digest
from docloop.services.users import require
from docloop.side_task import SideTask

if TYPE_CHECKING:  # training modules import PyTorch, which a serving worker may lack
    from docloop.ml.train import ModelDecoders, TrainConfig

# Shares of the reported progress: OCR (when not cached) before the network trains, and the
# point where training ends and evaluation and export begin.
OCR_SHARE = 0.3
# Steps that need no network and run beside the train step when a core is free: each is
# recorded when it ends, wherever that falls among the others.
TUNE_STEP, DECODERS_STEP = "recognizer-tune", "decoders"
SIDE_STEPS = (TUNE_STEP, DECODERS_STEP)
TRAIN_END = 0.95


def can_train() -> bool:
    """Whether this install has PyTorch (the ``docloop[train]`` extra).

    Serving, OCR and prediction run on ONNX Runtime alone, so the API image leaves PyTorch out
    and only workers that have it take training jobs. Looked up without importing it (seconds)."""
    return importlib.util.find_spec("torch") is not None


def request_training(
    ctx: AppContext, who: Principal, model_id: str, *, force: bool = False
) -> ModelInfo:
    """Queue a training of ``model_id``; a second request while one is pending is a no-op.

    ``force`` serves the new version even if its validation score is below the served one's."""
    require(who, "train")
    with ctx.session() as s:
        model = load_model(s, who, model_id)
        if model.train_state in ("queued", "training"):
            return describe(s, model)
        annotated = [
            a
            for anns in s.scalars(
                select(TrainingFile.annotations).where(TrainingFile.model_id == model.id)
            )
            for a in anns
            if a.get("box")
        ]
        if not annotated:
            raise Conflict(
                "the model has no annotated files with boxes yet: upload some, then train"
            )
        model.train_state = "queued"
        model.train_error = None
        model.train_progress = 0.0
        model.train_eta_s = None
        model.updated_at = utcnow()
        run = TrainingRun(
            id=str(uuid.uuid4()), model_id=model.id, status="queued", force=force, steps=[]
        )
        s.add(run)
        job = jobs.enqueue(
            s, JobKind.TRAIN, {"model_id": model.id, "run_id": run.id}, model_id=model.id,
            max_attempts=ctx.settings.job_max_attempts,
        )  # fmt: skip
        run.job_id = job.id
        s.flush()
        return describe(s, model)


def mark_failed(session: Session, payload: dict[str, Any], reason: str) -> None:
    run = session.get(TrainingRun, payload.get("run_id") or "")
    if run is not None:
        run.status = "failed"
        run.error = reason
        run.finished_at = utcnow()
    model = session.get(Model, payload["model_id"])
    if model is not None:
        model.train_state = "failed"
        model.train_error = reason
        model.train_progress = None
        model.train_eta_s = None


def _set_progress(ctx: AppContext, model_id: str, fraction: float, started: float) -> None:
    elapsed = time.time() - started
    eta = elapsed * (1 - fraction) / fraction if fraction > 0.02 else None
    with ctx.session() as s:
        model = s.get(Model, model_id)
        if model is not None:
            model.train_state = "training"
            model.train_progress = round(fraction, 4)
            model.train_eta_s = round(eta, 1) if eta is not None else None


def load_pages(
    ctx: AppContext,
    files: Sequence[dict[str, Any]],
    on_file: Callable[[int, int], None] | None = None,
) -> list[LabelledPage]:
    """Every annotated page of a dataset version's files, OCR-ed (from the upload-time cache),
    and once more as transcribed, for files that have a transcription of that page."""
    annotated = [f for f in files if f["annotations"]]
    ocr = read_blobs(ctx, [(f["blob_hash"], f["filename"]) for f in annotated], on_file)
    pages: list[LabelledPage] = []
    for f, lines in zip(annotated, ocr, strict=True):
        for page_no, size in enumerate(f["pages"]):
            anns = [_annotation(a) for a in f["annotations"] if a.get("page", 0) == page_no]
            if not anns:
                continue
            page = LabelledPage(
                split_words(lines[page_no]), size["width"], size["height"], anns,
                f.get("group", ""), key=f"{f['blob_hash']}:{page_no}",
            )  # fmt: skip
            pages.append(page)
            printed = transcribed_lines(f.get("transcription") or [], page_no)
            if printed:
                pages.append(replace(page, words=split_words(printed), transcribed=True))
    return pages


def transcribed_lines(transcription: list[dict[str, Any]], page_no: int) -> list[OcrToken]:
    """A page's transcribed lines as the engine would give them: in reading order, numbered."""
    lines = sorted(
        (ln for ln in transcription if ln.get("page", 0) == page_no),
        key=lambda ln: (ln["box"]["ymin"], ln["box"]["xmin"]),
    )
    return [OcrToken(ln["text"], Box(**ln["box"]), 1.0, i) for i, ln in enumerate(lines)]


def _annotation(a: dict[str, Any]) -> Annotation:
    b = a.get("box")
    box = Box(b["xmin"], b["ymin"], b["xmax"], b["ymax"]) if b else None
    return Annotation(a["label"], box, a.get("text"), a.get("page", 0))


def run_training_job(ctx: AppContext, payload: dict[str, Any], control: jobs.JobControl) -> None:
    """Validate, snapshot, OCR, build examples, train, evaluate, export, register: each step
    cached under the digest of its inputs, so a worker taking over a dead one's job resumes.

    When ``control.stopping()``, it raises ``Interrupted`` at the next page, epoch or step,
    the epoch's state saved first, so the worker can hand the job back."""
    _TrainingJob(ctx, payload["model_id"], payload.get("run_id"), control).run()


class _TrainingJob:
    """One attempt at a training run: the steps share the run, its MLflow run and progress."""

    def __init__(
        self,
        ctx: AppContext,
        model_id: str,
        run_id: str | None,
        control: jobs.JobControl,
    ) -> None:
        self.ctx = ctx
        self.model_id = model_id
        self.control = control
        self.started = time.time()
        with ctx.session() as s:
            model = s.get(Model, model_id)
            if model is None:
                raise InvalidInput(f"model {model_id} no longer exists")
            self.labels = list(model.categories)
            self.model_name = model.name
            run = s.get(TrainingRun, run_id) if run_id else None
            if run is None:  # a job queued before training runs existed
                run = TrainingRun(
                    id=str(uuid.uuid4()), model_id=model_id, status="queued", steps=[]
                )
                s.add(run)
            self.resumed = run.status != "queued"
            run.status = "running"
            run.error = None
            self.run_id = run.id
            mlflow_run_id = run.mlflow_run_id
        self.pipe = Pipeline(ctx, self.run_id)
        self.tracker = tracking.Tracker.open(
            ctx, model_id, self.model_name, mlflow_run_id, run_name=f"training {self.run_id[:8]}"
        )
        self._update_run(mlflow_run_id=self.tracker.run_id)

    def report(self, fraction: float) -> None:
        _set_progress(self.ctx, self.model_id, fraction, self.started)
        self.control.beat(fraction)

    def stop_point(self) -> None:
        """Where the training may stop for its worker: every step before is cached."""
        if self.control.stopping():
            raise Interrupted("the worker is stopping")

    def _update_run(self, **values: Any) -> None:
        with self.ctx.session() as s:
            run = s.get(TrainingRun, self.run_id)
            if run is not None:
                for k, v in values.items():
                    setattr(run, k, v)

    def run(self) -> None:
        self.ctx.metrics.training_started.inc()
        self.threads = limit_torch_threads(self.ctx.settings.train_threads)
        try:
            self._steps()
        except Interrupted as exc:
            self.tracker.log(f"handed back: {exc.message}")
            self.tracker.finish("KILLED", gpu=_gpu())
            self._update_run(status="interrupted")
            raise
        except BaseException as exc:
            self._measure("failed")
            self.tracker.log(f"failed: {type(exc).__name__}: {exc}")
            self._record_cost(self.tracker.finish("FAILED", gpu=_gpu()))
            self._update_run(status="failed", error=f"{type(exc).__name__}: {exc}"[:4000])
            raise
        self._measure("succeeded")
        training_notices.announce(self.ctx, self.run_id)

    def _record_cost(self, figures: dict[str, float]) -> None:
        """Keep the attempt's time and cost on the run, added to earlier attempts' (the KPI
        dashboard's training cost)."""
        with self.ctx.session() as s:
            run = s.get(TrainingRun, self.run_id)
            if run is not None:
                report = dict(run.report or {})
                before = report.get("cost") or {}
                report["cost"] = {k: _summed(k, before.get(k, 0.0), v) for k, v in figures.items()}
                run.report = report

    def _annotation_checks(
        self, report: dict[str, Any], pages: list[Any], clean: list[dict[str, Any]]
    ) -> None:
        """Add the annotation checks (they need the OCR under each box) to the validation
        report, stored again with the run."""
        from docloop.ml import annotation_checks

        checks = annotation_checks.run(pages, {f["blob_hash"]: f["filename"] for f in clean})
        report["annotation_checks"] = checks
        report["warnings"] = [*report["warnings"], *annotation_checks.warnings(checks)]
        self._update_run(report=report)
        self.tracker.artifact_json(report, "validation_report.json")
        for line in annotation_checks.warnings(checks):
            self.tracker.log(f"validate: {line}")

    def _measure(self, outcome: str) -> None:
        metrics = self.ctx.metrics
        metrics.training_finished.labels(outcome).inc()
        metrics.training_seconds.labels(outcome).observe(time.time() - self.started)

    def _steps(self) -> None:
        from docloop.ml import train

        log = self.tracker.log
        log(("resuming" if self.resumed else "starting") + f" training run {self.run_id}")
        self.report(0.0)
        files = dataset_versions.current_files(self.ctx, self.model_id)
        (clean, report), _ = self.pipe.step(
            "validate",
            [digest([[*dataset_versions.content(f), f["pages"]] for f in files]), self.labels],
            lambda _key: validation.check(
                files, self.labels, validation.stored_image_reader(self.ctx)
            ),
        )
        self._update_run(report=report)
        self.tracker.artifact_json(report, "validation_report.json")
        log(
            f"validate: {report['files_used']} of {report['files_in']} files used, "
            f"{len(report['excluded_files'])} excluded, "
            f"{report['annotations_clipped']} boxes clipped"
        )
        if not files:
            raise InvalidInput("no annotated page to train on: the model has no training files")
        if not clean:
            reasons = "; ".join(f"{e['filename']}: {e['reason']}" for e in report["excluded_files"])
            raise InvalidInput(f"no training file passed validation ({reasons[:500]})")

        t0 = time.time()
        version_id, data_digest, created = dataset_versions.record(self.ctx, self.model_id, clean)
        self.pipe.record("snapshot", data_digest, cached=not created, seconds=time.time() - t0)
        self._update_run(dataset_version_id=version_id)
        self.tracker.dataset(
            name=f"dataset-version-{version_id[:8]}",
            digest=data_digest,
            source=f"docloop://models/{self.model_id}/datasets/{version_id}",
            profile={"files": len(clean), "annotations": report["annotations_used"]},
        )

        pages, ocr_key = self.pipe.step(
            "ocr",
            [data_digest, self.ctx.ocr.name],
            lambda _key: load_pages(self.ctx, clean, self._ocr_progress),
        )
        self._annotation_checks(report, pages, clean)
        examples, examples_key = self.pipe.step(
            "examples",
            [ocr_key, self.labels],
            lambda _key: train.build_examples(pages, self.labels),
        )
        config = train.TrainConfig(
            epochs=epochs_for(len(pages), self.ctx.settings.train_epochs),
            seed=self.ctx.settings.train_seed,
            members=self.ctx.settings.train_members,
        )
        if self.ctx.settings.train_synthetic is not None:
            config = replace(config, synthetic=self.ctx.settings.train_synthetic)
        processes = self.ctx.settings.train_processes
        self.tracker.params(
            {
                **asdict(config),
                "labels": ",".join(self.labels),
                "train_pages": len(pages),
                "processes": processes,
                "ocr_engine": self.ctx.ocr.name,
                "dataset_version": version_id,
                "dataset_digest": data_digest,
                "docloop_version": __version__,
                **{f"hardware.{k}": v for k, v in tracking.hardware().items()},
            }
        )
        self.tracker.artifact_text(tracking.installed_packages(), "environment/requirements.txt")
        self.stop_point()
        tuning = self._recognizer_tuning(pages, clean, ocr_key)
        fitting = self._fitting_decoders(pages, ocr_key, config, after=tuning)
        with tuning, fitting as decoders:
            networks, train_key = self.pipe.step(
                "train",
                [examples_key, asdict(config), processes, self.ctx.settings.torchrun_args],
                lambda key: self._train(pages, examples, config, key),
            )
            shutil.rmtree(self.pipe.scratch(train_key), ignore_errors=True)  # torchrun's files
            self._checkpoints(train_key).clear()
            self.stop_point()
            metrics, eval_key = self.pipe.step(
                "evaluate",
                [train_key],
                lambda _key: train.evaluate_members(
                    pages, examples, self.labels, networks, config, decoders.result().members
                ),
            )
            self.report(TRAIN_END)
            self.stop_point()
            settings = self.ctx.settings
            recognizer, recognizer_key = self.pipe.step(
                "recognizer",
                [ocr_key, eval_key, settings.train_recognizer, settings.ocr_charset],
                lambda _key: self._choose_recognizer(
                    tuning, decoders, pages, clean, examples, networks, metrics
                ),
            )
            onnx, figures = recognizer
            metrics = {**metrics, "recognizer": figures} if figures else metrics
            bundle, _ = self.pipe.step(
                "export",
                [train_key, eval_key, recognizer_key],
                lambda _key: train.export_bundle(
                    pages, examples, self.labels, networks, metrics, onnx, decoders.result().model
                ).to_bytes(),
            )
        self._log_figures(metrics)
        self.tracker.artifact_bytes(bundle, "model/docloop-model.zip")
        self._register(bundle, metrics, version_id)
        cost = self.tracker.finish("FINISHED", gpu=_gpu())
        self._update_run(status="succeeded", finished_at=utcnow())
        self._record_cost(cost)

    def _recognizer_tuning(
        self, pages: list[LabelledPage], files: list[dict[str, Any]], ocr_key: str
    ) -> SideTask[Any]:
        """The recognizer tuned on the pages' field lines (a cached step of its own; None when
        the setting turns tuning off). It needs no network, so it starts now, beside the
        network's training, when the training leaves a core free (one PyTorch thread in this
        process, no torchrun processes); else it runs when the recognizer step asks for it."""
        settings = self.ctx.settings

        def work(check: Callable[[], None]) -> Any:
            if not settings.train_recognizer:
                return None
            from docloop.ml.engines.rapid import recognizer_model
            from docloop.ml.recognizer.choice import tune_on_pages
            from docloop.ml.recognizer.tune import TuneConfig

            model = recognizer_model(settings.ocr_charset, settings.home / "ocr-models")
            tuned, _ = self.pipe.step(
                TUNE_STEP,
                [ocr_key, settings.ocr_charset, asdict(TuneConfig())],
                lambda _key: tune_on_pages(
                    model.read_bytes(), pages, self._page_images(files), threads=self.threads,
                    progress=self.tracker.log, check=check,
                ),
            )  # fmt: skip
            return tuned

        beside = settings.train_recognizer and self._core_free()
        name = f"recognizer-tune-{self.run_id[:8]}"
        return SideTask(work, beside=beside, name=name, stop=self.stop_point)

    def _fitting_decoders(
        self,
        pages: list[LabelledPage],
        ocr_key: str,
        config: TrainConfig,
        after: SideTask[Any],
    ) -> SideTask[ModelDecoders]:
        """The decoders fitted on the annotations (``train.fit_model_decoders``: the model's,
        those the recognizer's judgement uses, and those each of ``config``'s members is scored
        with), a cached step of its own. They need no network, so they are fitted in a process
        of their own beside the network's training when the training leaves a core free, once
        ``after`` (the recognizer's tuning) is done with that core; else when the evaluation
        asks for them."""
        from docloop.apart import run_apart
        from docloop.ml import train
        from docloop.ml.recognizer.choice import held_out

        held = held_out(pages) if self.ctx.settings.train_recognizer else None
        args = (pages, self.labels, held, config)
        beside = self._core_free()

        def work(check: Callable[[], None]) -> ModelDecoders:
            def fit(_key: str) -> ModelDecoders:
                if not beside:
                    return train.fit_model_decoders(*args)
                return run_apart(train.fit_model_decoders, args, "docloop-decoders", check=check)

            after.wait_ended(check)
            members = train.members_for(pages, config.epochs, config.members)
            inputs = [ocr_key, self.labels, held is not None, config.val_every, members]
            decoders, _ = self.pipe.step(DECODERS_STEP, inputs, fit)
            return decoders

        name = f"decoders-{self.run_id[:8]}"
        return SideTask(work, beside=beside, name=name, stop=self.stop_point)

    def _core_free(self) -> bool:
        """Whether the network's training leaves a core free for work beside it: its PyTorch
        threads leave at least one usable core, and it starts no torchrun processes."""
        settings = self.ctx.settings
        return settings.train_processes == 1 and usable_cores() - self.threads >= 1

    def _page_images(self, files: list[dict[str, Any]]) -> Callable[[LabelledPage], Any]:
        """A page's RGB image, decoded from its stored file."""
        names = {f["blob_hash"]: f["filename"] for f in files}
        max_pages = self.ctx.settings.max_pages

        def image_of(page: LabelledPage) -> Any:
            blob, page_no = page.key.rsplit(":", 1)
            _, decoded = decode(self.ctx.blobs.get(blob), names[blob], max_pages=max_pages)
            return decoded[int(page_no)].image

        return image_of

    def _choose_recognizer(
        self,
        tuning: SideTask[Any],
        decoders: SideTask[ModelDecoders],
        pages: list[LabelledPage],
        files: list[dict[str, Any]],
        examples: list[Any],
        networks: list[Any],
        metrics: dict[str, Any],
    ) -> tuple[bytes | None, dict[str, Any]]:
        """The tuned recognizer when held-out pages come back better through the whole model
        with it (else None), and the figures that decided ((None, {}) when the setting turns
        tuning off)."""
        tuned = tuning.result()
        if tuned is None:
            return None, {}
        from docloop.ml.recognizer.choice import judge

        image_of = self._page_images(files)
        judged = decoders.result().judged
        choice = judge(tuned, pages, examples, self.labels, networks, metrics, image_of, judged)
        figures = {**choice.figures, "tuned_beside": tuning.beside}
        self.tracker.log(
            f"recognizer: held-out fields read exactly {figures['held_exact_stock']} as shipped, "
            f"{figures['held_exact_engine']} by the engine, {figures['held_exact_tuned']} tuned, "
            f"of {figures['held_fields']}; returned as annotated by the model "
            f"{figures.get('held_served_engine')} with the engine's readings, "
            f"{figures.get('held_served_tuned')} with the tuned recognizer, "
            f"of {figures.get('held_served_fields')} "
            f"({figures.get('held_served_wins')} right only with it, "
            f"{figures.get('held_served_losses')} only without, sign test p "
            f"{figures.get('sign_test_p')}); "
            + ("the tuned one serves" if choice.serves else "the shipped one serves")
            + f" (tuning {figures['tune_cpu_seconds']} CPU s"
            + (" beside the network's training" if tuning.beside else "")
            + f", judging {figures['judge_cpu_seconds']})"
        )
        self.tracker.metrics(
            {
                k: figures.get(k)
                for k in (
                    "held_exact_stock", "held_exact_tuned", "held_fields", "held_exact_engine",
                    "held_served_engine", "held_served_tuned", "held_served_fields",
                    "held_served_wins", "held_served_losses", "sign_test_p", "train_lines",
                    "copies", "tune_cpu_seconds", "judge_cpu_seconds",
                )
            }
        )  # fmt: skip
        return (choice.onnx if choice.serves else None), figures

    def _ocr_progress(self, done: int, total: int) -> None:
        self.report(OCR_SHARE * done / max(total, 1))
        self.stop_point()

    def _checkpoint_place(self, train_key: str) -> Any:
        """Where the train step's epochs are saved: in the store, under the step's key, so a
        worker on another machine resumes them. Imported here so serving never loads torch."""
        from docloop.ml.checkpoints import CheckpointPlace

        settings = self.ctx.settings
        return CheckpointPlace(
            settings.storage, settings.s3_endpoint_url, f"train/{train_key}",
            settings.checkpoint_every_s,
        )  # fmt: skip

    def _checkpoints(self, train_key: str) -> Any:
        from docloop.ml.checkpoints import StoreCheckpoints

        place = self._checkpoint_place(train_key)
        return StoreCheckpoints(self.ctx.blobs, place.name, place.every_s)

    def _train(self, pages: list, examples: list, config: Any, key: str) -> list:  # type: ignore[type-arg]
        """The networks, in this process or in torchrun's; resumes from saved epochs."""
        from docloop.ml.launch import train_in_processes
        from docloop.ml.train import train_members

        folder = self.pipe.scratch(key)
        processes = self.ctx.settings.train_processes
        checkpoints = self._checkpoints(key)
        saved = checkpoints.epochs()
        if saved:
            self.tracker.log(f"train: resuming from saved epochs {saved} (member: epoch)")

        def progress(fraction: float, info: dict[str, Any]) -> None:
            self.report(OCR_SHARE + (TRAIN_END - OCR_SHARE) * fraction)
            m, epoch = info.get("member", 1), info.get("epoch", 0)
            figures = {f"train_loss_member{m}": info.get("loss")}
            if "val_loss" in info:
                figures[f"val_loss_member{m}"] = info["val_loss"]
            self.tracker.metrics(figures, step=epoch)
            self.tracker.log(f"train: member {m} epoch {epoch} " + json.dumps(figures))
            if processes > 1:  # torchrun's ranks saved their last epoch on their own schedule
                self.stop_point()

        if processes > 1:
            self.tracker.log(f"train: {processes} processes with torchrun in {folder}")
            return train_in_processes(
                pages, examples, self.labels, config, folder=folder, processes=processes,
                checkpoints=self._checkpoint_place(key),
                extra_args=self.ctx.settings.torchrun_args, progress=progress,
            )  # fmt: skip
        return train_members(
            pages, examples, self.labels, config, progress, checkpoints, self.control.stopping
        )

    def _log_figures(self, metrics: dict[str, Any]) -> None:
        figures = {"val_text_accuracy": metrics.get("val_text_accuracy")}
        for label, v in metrics.get("val_per_label", {}).items():
            figures[f"val_text_accuracy.{label}"] = v["text_accuracy"]
            figures[f"val_box_iou50.{label}"] = v["box_iou50"]
        self.tracker.metrics({k: v for k, v in figures.items() if v is not None})

    def _register(self, bundle: bytes, metrics: dict[str, Any], dataset_version_id: str) -> None:
        """Add the version and apply the promotion gate, once (a resumed run skips it)."""
        t0 = time.time()
        artifact = self.ctx.blobs.put(bundle)
        existed = True
        with self.ctx.session() as s:
            model = s.get(Model, self.model_id)
            run = s.get(TrainingRun, self.run_id)
            if model is None or run is None:
                return
            if run.model_version_id is None:
                existed = False
                number = (
                    s.scalar(
                        select(func.max(ModelVersion.number)).where(
                            ModelVersion.model_id == self.model_id
                        )
                    )
                    or 0
                ) + 1
                version = ModelVersion(
                    id=str(uuid.uuid4()),
                    model_id=self.model_id,
                    number=number,
                    dataset_version_id=dataset_version_id,
                    artifact_hash=artifact,
                    metrics=metrics,
                    train_seconds=round(time.time() - self.started, 1),
                )
                s.add(version)
                s.flush()
                promoted, reason = model_versions.gate(s, model, version, force=run.force)
                if promoted:
                    model_versions.set_production(
                        s, model, version, action="auto", reason=reason, by="training"
                    )
                run.model_version_id = version.id
                run.report = {**(run.report or {}), "promotion": reason, "promoted": promoted}
                self.tracker.log(f"register: version {number}; {reason}")
                self.tracker.params({"model_version": number, "promoted": promoted})
            model.train_state = None
            model.train_error = None
            model.train_progress = None
            model.train_eta_s = None
            model.updated_at = utcnow()
        self.pipe.record("register", artifact, cached=existed, seconds=time.time() - t0)


def _summed(name: str, before: float, now: float) -> float:
    """An attempt's figure added to the earlier attempts' (peaks: the highest)."""
    return round(max(before, now) if "peak" in name else before + now, 5)


def _gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def epochs_for(n_pages: int, max_epochs: int) -> int:
    """About 2,300 optimiser steps of 8 pages in all: small sets get more passes, large fewer.

    Measured on 405 receipt pages: 1,500 steps gave total F1 0.76, 2,300 gave 0.82."""
    return max(15, min(max_epochs, round(2300 * 8 / max(n_pages, 1))))


def requeued(ctx: AppContext, model_id: str) -> None:
    """A failed attempt that will be retried: the model shows as queued again."""
    with ctx.session() as s:
        model = s.get(Model, model_id)
        if model is not None and model.train_state == "training":
            model.train_state = "queued"
