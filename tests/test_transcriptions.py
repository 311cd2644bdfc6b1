"""Full-page transcriptions as optional training data: API, CLI, dataset versions, training."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from docloop.cli import app
from docloop.domain import Annotation, Box, OcrToken
from docloop.ml.data import LabelledPage
from docloop.ml.train import _split, fit_decoders, group_keys
from docloop.samples import PLATES
from docloop.services import auth, dataset_versions, datasets, models
from docloop.services.annotation import list_files
from docloop.services.training import load_pages, transcribed_lines
from tests.conftest import sample_items

LINES = [
    {"text": "MH 02 CT 2727", "bndbox": {"xmin": 10, "ymin": 20, "xmax": 120, "ymax": 40}},
    {"text": "HYUNDAI", "bndbox": {"xmin": 10, "ymin": 2, "xmax": 60, "ymax": 12}},
]


def _first_file(client, model_id: str) -> str:  # type: ignore[no-untyped-def]
    path, objects = sample_items(1)[0]
    data = json.dumps([{"filename": path.name, "object": objects}])
    sent = client.post(
        f"/api/v1/models/{model_id}/files",
        files={"file": (path.name, path.read_bytes(), "image/jpeg")},
        data={"annotations": data},
    )
    assert sent.status_code == 201, sent.text
    return sent.json()["files"][0]["id"]


def test_a_transcription_is_set_read_refused_when_bad_and_cleared(client) -> None:  # type: ignore[no-untyped-def]
    model_id = client.post("/api/v1/models", json={"labels": ["number_plate"]}).json()["id"]
    file_id = _first_file(client, model_id)
    url = f"/api/v1/models/{model_id}/files/{file_id}/transcription"
    assert client.get(url).json()["lines"] == []

    put = client.put(url, json={"lines": LINES})
    assert put.status_code == 200, put.text
    assert [ln["text"] for ln in client.get(url).json()["lines"]] == ["MH 02 CT 2727", "HYUNDAI"]
    listed = client.get(f"/api/v1/models/{model_id}/files").json()
    assert listed[0]["transcribed_lines"] == 2

    outside = [{"text": "X", "bndbox": {"xmin": 0, "ymin": 0, "xmax": 99999, "ymax": 10}}]
    for bad, words in (
        (outside, "transcription line 0: bndbox"),
        ([{"text": " ", "bndbox": LINES[0]["bndbox"]}], "text must be a non-empty string"),
        ([{"text": "X"}], "needs a bndbox"),
        ([{**LINES[0], "page": 3}], "page 3 does not exist"),
    ):
        refused = client.put(url, json={"lines": bad})
        assert refused.status_code == 400 and words in refused.json()["message"], refused.text
    assert len(client.get(url).json()["lines"]) == 2  # a refused change leaves the old one

    assert client.delete(url).json()["lines"] == []
    assert client.get(f"/api/v1/models/{model_id}/files").json()[0]["transcribed_lines"] == 0


def test_a_transcription_is_part_of_the_dataset_version(db_ctx) -> None:  # type: ignore[no-untyped-def]
    who = auth.authenticate(db_ctx, "test-admin-key")
    m = models.create_model(db_ctx, who, categories=["number_plate"])
    (path, objects), (other, other_objects) = sample_items(2)
    for p, objs in ((path, objects), (other, other_objects)):
        datasets.add_files(
            db_ctx, who, m.id, [datasets.IncomingFile(p.name, p.read_bytes())],
            [{"filename": p.name, "object": objs}],
        )  # fmt: skip
    before, _, _ = dataset_versions.record(
        db_ctx, m.id, dataset_versions.current_files(db_ctx, m.id)
    )
    file_id = next(f.id for f in list_files(db_ctx, who, m.id) if f.filename == path.name)
    from docloop.services import transcriptions

    transcriptions.put(db_ctx, who, m.id, file_id, LINES)
    files = dataset_versions.current_files(db_ctx, m.id)
    after, _, created = dataset_versions.record(db_ctx, m.id, files)
    assert created and after != before
    changes = dataset_versions.diff(db_ctx, who, m.id, before, after)
    assert [f.filename for f in changes.reannotated] == [path.name]

    printed = next(f for f in files if f["filename"] == path.name)["transcription"]
    assert [t.text for t in transcribed_lines(printed, 0)] == ["HYUNDAI", "MH 02 CT 2727"]
    assert transcribed_lines(printed, 1) == []


def test_import_uploads_lines_tsv_unless_told_not_to(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path / "home")]
    runner = CliRunner()
    model_id = runner.invoke(
        app, ["models", "create", "--labels", "number_plate", *home]
    ).stdout.strip()
    folder = tmp_path / "data"
    for sub in ("images", "annotations", "lines"):
        (folder / sub).mkdir(parents=True)
    anns = sorted((PLATES / "annotations").glob("*.json"))[:2]
    for ann in anns:
        (folder / "annotations" / ann.name).write_bytes(ann.read_bytes())
        (folder / "images" / f"{ann.stem}.jpg").write_bytes(
            (PLATES / "images" / f"{ann.stem}.jpg").read_bytes()
        )
    # SROIE's format: a header, four corners clockwise from top-left, the text (commas allowed)
    (folder / "lines" / f"{anns[0].stem}.tsv").write_text(
        "x1\ty1\tx2\ty2\tx3\ty3\tx4\ty4\ttext\n10\t20\t120\t21\t121\t40\t9\t39\tMH 02, CT 2727\n"
    )
    imported = runner.invoke(app, ["import", str(folder), "--model", model_id, *home])
    assert "imported 2 file(s)" in imported.output, imported.output
    from docloop.config import Settings
    from docloop.services.context import build_context

    ctx = build_context(Settings(home=tmp_path / "home", ocr_processes=False))
    try:
        who = auth.local_principal(ctx, auth.DEFAULT_WORKSPACE)
        counts = {f.filename: f.transcribed_lines for f in list_files(ctx, who, model_id)}
        assert counts == {f"{anns[0].stem}.jpg": 1, f"{anns[1].stem}.jpg": 0}
        files = dataset_versions.current_files(ctx, model_id)
        [line] = next(f for f in files if f["transcription"])["transcription"]
        assert line == {
            "page": 0,
            "box": {"xmin": 9.0, "ymin": 20.0, "xmax": 121.0, "ymax": 40.0},
            "text": "MH 02, CT 2727",
        }
        pages = load_pages(ctx, [{**f, "group": f["blob_hash"]} for f in files])
        assert [p.transcribed for p in pages].count(True) == 1
        [copy] = [p for p in pages if p.transcribed]
        [original] = [p for p in pages if p.key == copy.key and not p.transcribed]
        assert copy.annotations == original.annotations and copy.group == original.group
        assert [w.text for w in copy.words] == ["MH", "02,", "CT", "2727"]
    finally:
        ctx.close()

    other = runner.invoke(app, ["models", "create", "--labels", "number_plate", *home])
    runner.invoke(
        app, ["import", str(folder), "--model", other.stdout.strip(), "--no-lines", *home]
    )
    ctx = build_context(Settings(home=tmp_path / "home", ocr_processes=False))
    try:
        who = auth.local_principal(ctx, auth.DEFAULT_WORKSPACE)
        listed = list_files(ctx, who, other.stdout.strip())
        assert [f.transcribed_lines for f in listed] == [0, 0]
    finally:
        ctx.close()


def _page(key: str, text: str, transcribed: bool = False) -> LabelledPage:
    word = OcrToken(text, Box(10, 10, 60, 20), 1.0)
    return LabelledPage(
        [word], 100, 50, [Annotation("id", Box(10, 10, 60, 20), text)],
        key=key, transcribed=transcribed,
    )  # fmt: skip


def test_transcribed_pages_are_trained_on_but_never_scored_or_decoded_from() -> None:
    pages = []
    for i in range(20):
        pages.append(_page(f"p{i}", f"AB{i:02d}"))
        pages.append(_page(f"p{i}", f"AB{i:02d}X", transcribed=True))  # as printed, not as read
    paired = [(p, None) for p in pages]
    keys = group_keys(pages)
    seen_in_training = set()
    for fold in range(10):
        train_set, val_set = _split(paired, 10, fold, keys)  # type: ignore[arg-type]
        assert val_set and not any(p.transcribed for p, _ in val_set)
        held = {p.key for p, _ in val_set}
        # a transcribed copy falls with its page: never trained on while its page is scored
        assert not any(p.key in held for p, _ in train_set)
        seen_in_training |= {p.key for p, _ in train_set if p.transcribed}
    assert len(seen_in_training) == 20
    _, shapes, _, _ = fit_decoders(pages, ["id"])
    assert shapes.counts["id"] == 20 and shapes.shapes["id"] == {"AA99": 20}
