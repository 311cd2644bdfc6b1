"""The Airflow DAG against a live server, run by Airflow's ``dag.test()`` in its own environment.

Airflow cannot share docloop's environment (it pins an older FastAPI), so ``.ci/run`` makes
``.venv-airflow`` with Airflow and docloop's SDK; the DAG runs there, the server here."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from docloop.client import Client
from tests.live import docloop_server, plates_folder

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_BIN = ROOT / ".venv-airflow" / "bin"
KEY = "test-admin-key"

# A dags-folder file as a user writes one, which also runs the DAG once when executed.
DAG_FILE = """\
import json
import sys

from docloop.pipelines.airflow_dag import retrain_dag

dag = retrain_dag()

if __name__ == "__main__":
    run = dag.test(run_conf=json.loads(sys.argv[1]))
    results = {
        ti.task_id: {"state": str(ti.state), "result": ti.xcom_pull(task_ids=ti.task_id)}
        for ti in run.get_task_instances()
    }
    with open(sys.argv[2], "w") as out:
        json.dump({"state": str(run.state), "tasks": results}, out)
"""

pytestmark = pytest.mark.skipif(
    not (AIRFLOW_BIN / "airflow").exists(),
    reason="needs .venv-airflow with Airflow and docloop's SDK (.ci/run makes it)",
)


def _airflow(args: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]


@pytest.mark.slow
def test_the_dag_trains_evaluates_and_serves_the_new_version(tmp_path: Path) -> None:
    home = tmp_path / "airflow"
    (home / "dags").mkdir(parents=True)
    dag_file = home / "dags" / "docloop_retrain.py"
    dag_file.write_text(DAG_FILE)
    with docloop_server(tmp_path / "docloop") as url:
        with Client(url, KEY) as dl:
            model = dl.create_model(["number_plate"])
        env = {
            **os.environ,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "DOCLOOP_URL": url,
            "DOCLOOP_API_KEY": KEY,
            "PYTHONPATH": str(ROOT / "src"),  # this checkout's DAG, whatever the venv points at
        }
        _airflow([str(AIRFLOW_BIN / "airflow"), "db", "migrate"], env)
        conf = {"model_id": model.id, "folder": str(plates_folder(tmp_path / "plates", 10))}
        out = tmp_path / "run.json"
        _airflow([str(AIRFLOW_BIN / "python"), str(dag_file), json.dumps(conf), str(out)], env)
        with Client(url, KEY) as dl:
            served = dl.model(model.id)
    run = json.loads(out.read_text())
    tasks = run["tasks"]
    assert run["state"] == "success", tasks
    assert {t: r["state"] for t, r in tasks.items()} == dict.fromkeys(
        ["upload_folder", "train", "evaluate", "promote_if_better"], "success"
    )
    assert tasks["upload_folder"]["result"]["files"] == 10
    evaluation = tasks["evaluate"]["result"]
    assert evaluation["candidate"] == 1 and evaluation["serving"] == 1
    assert evaluation["candidate_score"] is not None
    promoted = tasks["promote_if_better"]["result"]
    assert promoted["promoted"] and promoted["now_serving"] == 1
    assert served.hosted and served.version == 1
