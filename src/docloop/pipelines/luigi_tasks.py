"""Luigi tasks for a docloop retraining pipeline: upload a folder, train, evaluate, promote.

    luigi --module docloop.pipelines.luigi_tasks PromoteIfBetter \\
        --model-id MODEL --folder plates --workdir runs/2026-12-03 --local-scheduler

The server and key come from ``DOCLOOP_URL`` and ``DOCLOOP_API_KEY``. Each task writes its
result as JSON under ``workdir``, so a rerun of the same day skips the finished steps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import luigi

from docloop.client import Client
from docloop.pipelines import steps


class _Step(luigi.Task):  # type: ignore[misc]
    model_id = luigi.Parameter()
    folder = luigi.Parameter()
    workdir = luigi.Parameter()

    def output(self) -> luigi.LocalTarget:
        return luigi.LocalTarget(str(Path(self.workdir) / f"{type(self).__name__}.json"))

    def _save(self, result: dict[str, Any]) -> None:
        with self.output().open("w") as f:
            json.dump(result, f)

    def _input(self) -> dict[str, Any]:
        with self.input().open() as f:
            return json.load(f)  # type: ignore[no-any-return]


class UploadFolder(_Step):
    """Upload the folder's images and annotations to the model."""

    def run(self) -> None:
        with Client() as dl:
            self._save(steps.upload_folder(dl, self.model_id, Path(self.folder)))


class Train(_Step):
    """Train on everything uploaded and wait until the training has finished."""

    timeout_s = luigi.FloatParameter(default=3600.0)

    def requires(self) -> UploadFolder:
        return UploadFolder(model_id=self.model_id, folder=self.folder, workdir=self.workdir)

    def run(self) -> None:
        with Client() as dl:
            self._save(steps.train_and_wait(dl, self.model_id, timeout=self.timeout_s))


class Evaluate(_Step):
    """The new version's validation score next to the served version's."""

    def requires(self) -> Train:
        return Train(model_id=self.model_id, folder=self.folder, workdir=self.workdir)

    def run(self) -> None:
        with Client() as dl:
            self._save(steps.evaluate(dl, self.model_id))


class PromoteIfBetter(_Step):
    """Serve the new version if it scores at least as well as the served one."""

    def requires(self) -> Evaluate:
        return Evaluate(model_id=self.model_id, folder=self.folder, workdir=self.workdir)

    def run(self) -> None:
        with Client() as dl:
            self._save(steps.promote_if_better(dl, self._input()))
