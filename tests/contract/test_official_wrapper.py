"""Nanonets' official Python wrapper, unchanged but for its host, against a live ``docloop serve``.

The wrapper (``nanonets`` 2.0.5) pins requests 2.22, so it lives in its own virtual environment,
``.venv-nanonets`` at the repository root (``.ci/run`` creates it; ``DOCLOOP_NANONETS_PYTHON``
may name another interpreter that has it). It trains on 60 plate photos in three batches of 20
(its state check wants more than 50 images and 50 boxes per label), checks the state until the
model is hosted, then predicts a file, a batch of files and URLs served from this machine.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from docloop.samples import PLATES

ROOT = Path(__file__).resolve().parents[2]
FLOW = Path(__file__).with_name("nanonets_flow.py")
KEY = "wrapper-test-key"
TRAINING_FILES = 60


def _wrapper_python() -> Path:
    named = os.environ.get("DOCLOOP_NANONETS_PYTHON")
    python = Path(named) if named else ROOT / ".venv-nanonets" / "bin" / "python"
    if not python.exists():
        pytest.skip(
            f"the official Nanonets wrapper's environment is absent ({python}): create it with "
            "`python3.11 -m venv .venv-nanonets && .venv-nanonets/bin/pip install nanonets==2.0.5`"
            " (.ci/run does)"
        )
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def docloop_server(tmp_path: Path) -> Iterator[str]:
    """``docloop serve`` in a subprocess on a fresh home, with a small training budget."""
    port = _free_port()
    env = {
        **os.environ,
        "DOCLOOP_BOOTSTRAP_API_KEY": KEY,
        "DOCLOOP_ALLOW_PRIVATE_URLS": "true",
        "DOCLOOP_TRAIN_EPOCHS": "3",
        "DOCLOOP_TRAIN_MEMBERS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from docloop.cli import app; app()", "serve",
         "--host", "127.0.0.1", "--port", str(port), "--home", str(tmp_path / "home")],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _training_set(folder: Path) -> dict[str, str]:
    """The 40 bundled plates, then 20 of them re-encoded (other bytes, the same boxes)."""
    folder.mkdir()
    images = sorted((PLATES / "images").glob("*.jpg"))
    plan = {}
    for n in range(TRAINING_FILES):
        source = images[n % len(images)]
        target = folder / (source.name if n < len(images) else f"{source.stem}-again.jpg")
        if n < len(images):
            target.write_bytes(source.read_bytes())
        else:
            buf = io.BytesIO()
            Image.open(source).convert("RGB").save(buf, "JPEG", quality=80)
            target.write_bytes(buf.getvalue())
        annotation = folder / f"{target.stem}.json"
        annotation.write_text((PLATES / "annotations" / f"{source.stem}.json").read_text())
        plan[str(target)] = str(annotation)
    return plan


@pytest.mark.slow
def test_official_wrapper_trains_and_predicts(
    docloop_server: str, httpserver_url: str, tmp_path: Path
) -> None:
    python = _wrapper_python()
    unseen = sorted((PLATES / "unseen").iterdir())
    plan = {
        "training": _training_set(tmp_path / "train"),
        "files": [str(p) for p in unseen] + [str(sorted((PLATES / "images").iterdir())[0])],
        "urls": [f"{httpserver_url}/{p.name}" for p in sorted((PLATES / "images").iterdir())[:2]],
    }
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan))
    run = subprocess.run(
        [str(python), str(FLOW), f"{docloop_server}/api/v2/", KEY, str(plan_path)],
        capture_output=True, text=True, timeout=2400,
    )  # fmt: skip
    lines = run.stdout.splitlines()
    print("\n".join(lines[:12] + ["..."] + lines[-6:]))  # the wrapper's own output, for the log
    assert run.returncode == 0, run.stderr[-4000:]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    assert summary["state"]["state"] == 5
    assert {c["name"]: c["count"] for c in summary["state"]["categories"]}["number_plate"] > 50
    names = [Path(p).name for p in plan["files"]]
    assert list(summary["predict_for_file"]) == names[:1]
    assert sorted(summary["predict_for_files"]) == sorted(names)
    assert sorted(summary["predict_for_urls"]) == sorted(Path(u).name for u in plan["urls"])
    found = [p for preds in summary["predict_for_files"].values() for p in preds]
    assert found and all(p["label"] == "number_plate" for p in found)
    assert all(isinstance(p["ocr_text"], str) and 0 <= p["score"] <= 1 for p in found)
