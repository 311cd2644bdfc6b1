"""A real model: real OCR on bundled photos, a real training job, predictions on photos."""

from __future__ import annotations

import re

from docloop.domain import Box
from docloop.ml.boxes import BoxSample
from docloop.ml.bundle import FieldModelBundle
from docloop.samples import PLATES
from docloop.services import auth, datasets, predictions
from docloop.services.models import get_model


def test_trained_model_reads_plates(trained) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id = trained
    who = auth.authenticate(ctx, "test-admin-key")
    info = get_model(ctx, who, model_id)
    assert int(info.state) == 5 and info.version == 1
    assert info.versions[0]["metrics"]["train_pages"] > 0

    # the training photos themselves must be read back: the model learned which text is the plate
    hits = 0
    from tests.conftest import sample_items

    items = sample_items(16)
    for path, objects in items:
        [page] = predictions.predict_files(
            ctx, who, model_id, [datasets.IncomingFile(path.name, path.read_bytes())]
        )
        truth = re.sub("[^A-Z0-9]", "", (objects[0].get("ocr_text") or "").upper())
        top = max(page.prediction, key=lambda p: p["score"], default=None)
        hits += bool(top and truth and re.sub("[^A-Z0-9]", "", top["ocr_text"].upper()) == truth)
    assert hits >= len(items) // 2

    unseen = sorted((PLATES / "unseen").iterdir())[0]
    [page] = predictions.predict_files(
        ctx, who, model_id, [datasets.IncomingFile(unseen.name, unseen.read_bytes())]
    )
    assert page.prediction, "no plate found on an unseen photo"


def test_exported_model_is_onnx_with_learned_decoding(trained) -> None:  # type: ignore[no-untyped-def]
    ctx, model_id = trained
    from docloop.db.tables import Model, ModelVersion

    with ctx.session() as s:
        version = s.get(ModelVersion, s.get(Model, model_id).production_version_id)
        bundle = FieldModelBundle.from_bytes(ctx.blobs.get(version.artifact_hash))
    assert bundle.onnx[:2] == b"\x08\x0b" or len(bundle.onnx) > 10_000
    assert bundle.labels == ["number_plate"]
    text = Box(100, 100, 200, 125)
    plate = bundle.refiner.refine(BoxSample("number_plate", text, text, 1, 640, 480))
    assert plate.width > text.width and plate.height > text.height  # a frame around the text
    assert bundle.layout.instances["number_plate"][1:] == []  # one plate per training photo


def test_a_trained_version_records_its_dataset_version(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, model_id = trained_client
    listed = client.get(f"/api/v1/models/{model_id}/datasets").json()
    assert len(listed) == 1 and listed[0]["model_versions"] == [1]
    model = client.get(f"/api/v1/models/{model_id}").json()
    assert model["versions"][0]["dataset_version_id"] == listed[0]["id"]
    same = client.get(
        f"/api/v1/models/{model_id}/datasets/diff",
        params={"old": listed[0]["id"], "new": listed[0]["id"]},
    ).json()
    assert same["added"] == same["removed"] == same["reannotated"] == []
    assert client.get(f"/api/v1/models/{model_id}/datasets/diff?old=x&new=y").status_code == 404


def test_a_version_keeps_its_validation_result_per_page(trained) -> None:  # type: ignore[no-untyped-def]
    """What lets two versions be compared on the same files: results keyed by content."""
    from docloop.db.tables import ModelVersion

    ctx, model_id = trained
    with ctx.session() as s:
        version = s.query(ModelVersion).filter(ModelVersion.model_id == model_id).first()
        pages = version.metrics["val_pages"]
    assert pages and all(len(k.split(":")[0]) == 64 for k in pages)
    assert all(set(v) == {"number_plate"} for v in pages.values())
