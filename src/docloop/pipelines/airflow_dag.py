"""An Airflow DAG for a docloop retraining pipeline: upload a folder, train, evaluate, promote.

A file in Airflow's dags folder builds it (one DAG per model, or one triggered with the model
and folder in its run's conf)::

    from docloop.pipelines.airflow_dag import retrain_dag

    dag = retrain_dag(model_id="MODEL_ID", folder="/data/plates/incoming", schedule="@daily")

The server and key come from ``DOCLOOP_URL`` and ``DOCLOOP_API_KEY`` in the environment of the
Airflow workers (a key is a secret: it is never a DAG parameter, which the UI shows). Each task
returns its result as JSON, Airflow's XCom, which the next task receives. Only this module of
docloop imports Airflow."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, dag, get_current_context, task

from docloop.client import Client
from docloop.pipelines import steps

DAG_ID = "docloop_retrain"


def _params() -> dict[str, Any]:
    return dict(get_current_context()["params"])


@task
def upload_folder() -> dict[str, Any]:
    """Upload the run's folder (``images/`` + ``annotations/``) to its model."""
    params = _params()
    with Client() as dl:
        return steps.upload_folder(dl, params["model_id"], Path(params["folder"]))


@task
def train(uploaded: dict[str, Any]) -> dict[str, Any]:
    """Train on everything uploaded and wait until the training has finished."""
    with Client() as dl:
        return steps.train_and_wait(dl, uploaded["model_id"], timeout=_params()["timeout_s"])


@task
def evaluate(trained: dict[str, Any]) -> dict[str, Any]:
    """The new version's validation score next to the served version's."""
    with Client() as dl:
        return steps.evaluate(dl, trained["model_id"])


@task
def promote_if_better(evaluation: dict[str, Any]) -> dict[str, Any]:
    """Serve the new version if it scores at least as well as the served one."""
    with Client() as dl:
        return steps.promote_if_better(dl, evaluation)


def retrain_dag(
    dag_id: str = DAG_ID,
    *,
    model_id: str | None = None,
    folder: str | None = None,
    timeout_s: float = 3600.0,
    **dag_args: Any,
) -> DAG:
    """The four tasks chained in a DAG; ``dag_args`` go to Airflow's ``@dag`` (``schedule``...).

    ``model_id`` and ``folder`` are the defaults of the DAG's parameters of the same names: a
    run's conf overrides them, and a run without them fails its parameter check before any
    task starts. ``timeout_s`` bounds the wait for the training."""
    params = {
        "model_id": _required(model_id, "the model to retrain"),
        "folder": _required(folder, "a dataset folder the Airflow workers can read"),
        "timeout_s": Param(timeout_s, type="number", minimum=1, description="training timeout"),
    }
    dag_args = {"schedule": None, "catchup": False, "tags": ["docloop"], **dag_args}

    @dag(dag_id=dag_id, params=params, **dag_args)
    def pipeline() -> None:
        promote_if_better(evaluate(train(upload_folder())))

    return pipeline()  # type: ignore[no-any-return]


def _required(default: str | None, description: str) -> Param:
    if default is None:
        return Param(type="string", minLength=1, description=description)
    return Param(default, type="string", minLength=1, description=description)
