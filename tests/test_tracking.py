"""Each training is an MLflow run holding what made the model and what came out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from docloop import cpu_share
from docloop.ml.train import TrainConfig
from docloop.services import auth, runs, tracking

pytestmark = pytest.mark.slow


def test_the_mlflow_run_records_code_data_settings_machine_cost_and_outputs(trained) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id = trained
    who = auth.authenticate(ctx, "test-admin-key")
    [listed] = runs.list_runs(ctx, who, model_id)
    run = runs.show_run(ctx, who, listed.id)

    assert run.tracking_uri.startswith("sqlite:///") and str(ctx.settings.home) in run.tracking_uri
    assert run.tags["docloop.version"] and run.tags["mlflow.source.git.commit"]
    params = run.params
    assert set(TrainConfig.__dataclass_fields__) <= set(params)
    assert params["labels"] == "number_plate" and params["hardware.cpu_count"]
    assert params["hardware.usable_cores"] == str(cpu_share.usable_cores())
    assert params["hardware.torch_threads"] == "1" == str(ctx.settings.train_threads)
    [dataset] = run.datasets
    assert params["dataset_digest"].startswith(dataset["digest"])
    assert dataset["source"].endswith(run.dataset_version_id)

    metrics = run.metrics
    for key in ("val_text_accuracy", "wall_seconds", "cpu_seconds", "peak_memory_mb",
                "cost_estimate", "system/cpu_utilization_percentage"):  # fmt: skip
        assert key in metrics, key
    assert metrics["cost_estimate"] == pytest.approx(
        metrics["cpu_seconds"] / 3600 * ctx.settings.cpu_hour_cost, abs=1e-5
    )
    history = tracking.client(ctx).get_metric_history(run.mlflow_run_id, "train_loss_member1")
    assert [m.step for m in history] == list(range(1, int(params["epochs"]) + 1))
    assert params["members"] == "2" == str(ctx.settings.train_members)
    assert "train_loss_member2" in metrics and "train_loss_member3" not in metrics

    assert set(run.artifacts) >= {
        "training.log", "validation_report.json", "environment/requirements.txt",
        "model/docloop-model.zip",
    }  # fmt: skip
    mlflow = tracking.client(ctx)
    env = mlflow.download_artifacts(run.mlflow_run_id, "environment/requirements.txt")
    assert "torch==" in Path(env).read_text()
    report = mlflow.download_artifacts(run.mlflow_run_id, "validation_report.json")
    assert json.loads(Path(report).read_text())["files_used"] == 16


def test_runs_compare_lines_up_parameters(trained) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id = trained
    who = auth.authenticate(ctx, "test-admin-key")
    [listed] = runs.list_runs(ctx, who, model_id)
    same = runs.compare(ctx, who, [listed.id, listed.id[:8]])
    assert same.differs == [] and same.params["epochs"][0] == same.params["epochs"][1]


def test_a_retried_training_reopens_its_failed_mlflow_run(ctx) -> None:  # type: ignore[no-untyped-def]
    first = tracking.Tracker.open(ctx, "model-x", "x", None, run_name="training x")
    first.finish("FAILED", gpu=False)
    again = tracking.Tracker.open(ctx, "model-x", "x", first.run_id, run_name="training x")
    assert tracking.client(ctx).get_run(first.run_id).info.status == "RUNNING"
    again.finish("FINISHED", gpu=False)
    assert tracking.client(ctx).get_run(first.run_id).info.status == "FINISHED"
