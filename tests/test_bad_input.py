"""Bad input gets a 4xx JSON error naming the problem, and nothing half-written is left."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient

from docloop.config import Settings
from docloop.errors import InvalidInput
from docloop.services import fetch
from tests.conftest import basic, png_bytes, sample_items


@pytest.fixture
def model_id(client: TestClient) -> str:
    return client.post("/api/v2/OCR/Model/", json={"categories": ["number_plate"]}).json()[
        "model_id"
    ]


def _upload(
    client: TestClient, mid: str, name: str, data: bytes, objects: object
) -> tuple[int, dict]:
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/UploadFile/",
        files={
            "file": (name, data),
            "data": ("", objects if isinstance(objects, str) else json.dumps(objects)),
        },
    )
    return r.status_code, r.json()


def _box(**kw: float) -> list[dict]:
    box = {"xmin": 5, "ymin": 5, "xmax": 30, "ymax": 20} | kw
    return [{"filename": "a.png", "object": [{"name": "number_plate", "bndbox": box}]}]


def _assert_nothing_stored(client: TestClient, mid: str) -> None:
    model = client.get(f"/api/v2/OCR/Model/{mid}").json()
    assert model["state"] == 0 and model["categories"][0]["count"] == 0


@pytest.mark.parametrize(
    ("name", "data", "objects", "status", "needle"),
    [
        ("a.png", png_bytes(), "[{not json", 400, "not valid JSON"),
        ("a.png", png_bytes(), _box(xmax=500), 400, "outside"),
        ("a.png", png_bytes(), _box(xmin=30, xmax=10), 400, "zero-size or inverted"),
        ("a.png", png_bytes(), _box(ymin=20, ymax=20), 400, "zero-size or inverted"),
        ("a.png", png_bytes(), _box(xmin="left"), 400, "must be a number"),
        (
            "a.png",
            png_bytes(),
            [{"filename": "a.png", "object": [{"name": "nope", "bndbox": None, "ocr_text": "x"}]}],
            400,
            "not one of the model's labels",
        ),
        ("a.png", b"", _box(), 400, "empty"),
        ("a.png", png_bytes()[:60], _box(), 400, "corrupt or truncated"),
        ("a.png", b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, _box(), 400, "corrupt"),
        ("a.pdf", b"%PDF-1.4\n1 0 obj <<>> endobj\ntruncated", _box(), 400, "PDF"),
        ("a.png", b"hello, I am a text file", _box(), 400, "not a JPEG"),
        ("a.jpg", b"%PDF-1.4\n" + b"0" * 100, _box(), 400, "named as jpeg"),
    ],
)
def test_bad_uploads_are_refused_whole(
    client: TestClient, model_id: str, name, data, objects, status, needle
) -> None:  # type: ignore[no-untyped-def]
    code, body = _upload(client, model_id, name, data, objects)
    assert code == status, body
    assert needle in body["message"]
    _assert_nothing_stored(client, model_id)


def test_one_bad_file_in_a_batch_stores_none(client: TestClient, model_id: str) -> None:
    good = png_bytes()
    r = client.post(
        f"/api/v2/OCR/Model/{model_id}/UploadFile/",
        files=[("file", ("a.png", good)), ("file", ("b.png", b"not an image at all"))],
    )
    assert r.status_code == 400  # Nanonets' status for a file it cannot read
    _assert_nothing_stored(client, model_id)


def test_file_over_the_size_limit(ctx, model_id: str) -> None:  # type: ignore[no-untyped-def]
    from docloop.api.app import create_app

    ctx.settings.max_upload_bytes = 1000
    with TestClient(create_app(ctx.settings, ctx=ctx), headers=basic("test-admin-key")) as c:
        code, body = _upload(c, model_id, "a.png", png_bytes(400, 400) + b"\0" * 2000, _box())
    assert code == 413 and "limit" in body["message"]


def test_predict_with_untrained_model(client: TestClient, model_id: str) -> None:
    r = client.post(
        f"/api/v2/OCR/Model/{model_id}/LabelFile/", files={"file": ("a.png", png_bytes())}
    )
    assert r.status_code == 409 and "not trained" in r.json()["message"]


def test_predict_with_a_model_from_an_older_artifact_format(
    client: TestClient, model_id: str, ctx
) -> None:  # type: ignore[no-untyped-def]
    import zipfile

    from docloop.db.tables import Model, ModelVersion

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("meta.json", json.dumps({"format": "docloop-field-tagger/1"}))
        zf.writestr("model.onnx", b"")
    with ctx.session() as s:
        s.add(ModelVersion(id="old-v1", model_id=model_id, number=1,
                           artifact_hash=ctx.blobs.put(buf.getvalue()), metrics={},
                           train_seconds=1.0))  # fmt: skip
        s.flush()
        s.get(Model, model_id).production_version_id = "old-v1"
    r = client.post(
        f"/api/v2/OCR/Model/{model_id}/LabelFile/", files={"file": ("a.png", png_bytes())}
    )
    assert r.status_code == 409 and "train the model again" in r.json()["message"]


def test_train_without_annotations(client: TestClient, model_id: str) -> None:
    r = client.post(f"/api/v2/OCR/Model/{model_id}/Train/")
    assert r.status_code == 409 and "no annotated files" in r.json()["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v2/OCR/Model/does-not-exist"),
        ("post", "/api/v2/OCR/Model/does-not-exist/Train/"),
        ("get", "/api/v2/Inferences/Model/does-not-exist/InferenceRequest/x"),
        ("post", "/api/v2/ImageLevelInferences/Model/does-not-exist/Verify/x"),
        ("delete", "/api/v2/Inferences/Model/does-not-exist/InferenceRequestFiles/x"),
    ],
)
def test_unknown_ids_are_404_json(client: TestClient, method: str, path: str) -> None:
    r = getattr(client, method)(path)
    assert r.status_code == 404 and "message" in r.json()


def test_unknown_request_file_id_of_a_real_model(client: TestClient, model_id: str) -> None:
    r = client.get(f"/api/v2/Inferences/Model/{model_id}/InferenceRequest/nope")
    assert r.status_code == 404 and "nope" in r.json()["message"]


@pytest.mark.parametrize("headers", [{}, basic("not-a-key"), {"Authorization": "Basic !!!"}])
def test_missing_or_unknown_key_is_401(client: TestClient, headers: dict) -> None:
    client.headers.pop("Authorization", None)
    r = client.get("/api/v2/OCR/Models/", headers=headers)
    assert r.status_code == 401 and "key" in r.json()["message"]


def test_bad_categories(client: TestClient) -> None:
    r = client.post("/api/v2/OCR/Model/", json={"categories": []})
    assert r.status_code == 400 and "categories" in r.json()["message"]


def test_bad_day_range(client: TestClient, model_id: str) -> None:
    r = client.get(
        f"/api/v2/Inferences/Model/{model_id}/ImageLevelInferences?start_day_interval=10&current_batch_day=5"
    )
    assert r.status_code == 400
    r = client.get(
        f"/api/v2/Inferences/Model/{model_id}/ImageLevelInferences?start_day_interval=x&current_batch_day=5"
    )
    assert r.status_code == 422 and "start_day_interval" in r.json()["message"]


def test_private_urls_are_refused_unless_allowed(
    client: TestClient, model_id: str, httpserver_url: str
) -> None:
    strict = Settings(allow_private_urls=False)
    for url in (
        f"{httpserver_url}/x.jpg",
        "http://10.0.0.1/x.jpg",
        "http://169.254.169.254/latest",
        "http://192.168.1.1/",
    ):
        with pytest.raises(InvalidInput, match="loopback, private or link-local"):
            fetch.fetch(url, strict)
    with pytest.raises(InvalidInput, match="not an http"):
        fetch.fetch("file:///etc/passwd", strict)


def test_url_upload_errors(client: TestClient, model_id: str, httpserver_url: str, ctx) -> None:  # type: ignore[no-untyped-def]
    ctx.settings.url_timeout_s = 0.5
    for url, needle in [
        (f"{httpserver_url}/redirect-loop", "redirected more than"),
        (f"{httpserver_url}/slow/{sample_items(1)[0][0].name}", "timed out"),
        (f"{httpserver_url}/missing.jpg", "HTTP 404"),
    ]:
        r = client.post(f"/api/v2/OCR/Model/{model_id}/UploadUrls/", data={"urls": url})
        assert r.status_code == 400 and needle in r.json()["message"], r.text
    _assert_nothing_stored(client, model_id)


def test_patch_with_bad_box(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = sample_items(1)[0][0]
    page = client.post(
        f"/api/v2/OCR/Model/{mid}/LabelFile/", files={"file": (path.name, path.read_bytes())}
    ).json()["result"][0]
    bad = {"label": "number_plate", "xmin": 50, "ymin": 10, "xmax": 40, "ymax": 30}
    r = client.patch(
        f"/api/v2/Inferences/Model/{mid}/ImageLevelInference",
        json={"id": page["id"], "predicted_boxes": [bad]},
    )
    assert r.status_code == 400 and "inverted" in r.json()["message"]
    stored = client.get(
        f"/api/v2/Inferences/Model/{mid}/InferenceRequest/{page['request_file_id']}"
    ).json()
    assert stored["result"][0]["prediction"] == page["prediction"]


def test_pdf_named_and_multipage_tiff(client: TestClient, model_id: str) -> None:
    from PIL import Image

    buf = io.BytesIO()
    frames = [Image.new("RGB", (40, 30), c) for c in ("white", "gray")]
    frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:])
    objects = [
        {
            "filename": "t.tif",
            "object": [
                {
                    "name": "number_plate",
                    "page": 1,
                    "bndbox": {"xmin": 1, "ymin": 1, "xmax": 20, "ymax": 20},
                }
            ],
        }
    ]
    code, body = _upload(client, model_id, "t.tif", buf.getvalue(), objects)
    assert code == 200, body
    assert body["files"][0]["pages"] == 2
    objects[0]["object"][0]["page"] = 2
    code, body = _upload(client, model_id, "t.tif", buf.getvalue(), objects)
    assert code == 400 and "page 2 does not exist" in body["message"]
