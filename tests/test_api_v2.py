"""Every row of the v2 contract (GUIDE §2), through HTTP, on a model trained for real."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from docloop.samples import PLATES
from tests.conftest import basic, run_jobs, sample_items

UNSEEN = sorted((PLATES / "unseen").iterdir())


def _today() -> int:
    return int(datetime.now(UTC).timestamp() // 86400)


def test_create_get_and_list_models_in_both_families(client: TestClient) -> None:
    r = client.post(
        "/api/v2/OCR/Model/", json={"categories": ["number_plate"], "model_type": "ocr"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["state"] == 0 and body["categories"] == [{"name": "number_plate", "count": 0}]
    mid = body["model_id"]
    assert client.get(f"/api/v2/ObjectDetection/Model/{mid}").json()["model_id"] == mid
    for path in ("/api/v2/OCR/Model/", "/api/v2/OCR/Models/", "/api/v2/ObjectDetection/Models/"):
        assert [m["model_id"] for m in client.get(path).json()] == [mid]


def test_upload_file_with_requests_style_parts_then_train(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    mid = client.post("/api/v2/OCR/Model/", json={"categories": ["number_plate"]}).json()[
        "model_id"
    ]
    for path, objects in sample_items(3):
        data = json.dumps([{"filename": path.name, "object": objects}])
        r = client.post(
            f"/api/v2/OCR/Model/{mid}/UploadFile/",
            files={
                "file": (path.name, path.read_bytes()),
                "data": ("", data),
                "modelId": ("", mid),
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["message"] == "Success"
    model = client.get(f"/api/v2/OCR/Model/{mid}").json()
    assert model["state"] == 2 and model["categories"][0]["count"] == 3
    r = client.post(f"/api/v2/OCR/Model/{mid}/Train/")
    assert r.status_code == 200 and r.json()["state"] == 3
    run_jobs(ctx)
    assert client.get(f"/api/v2/OCR/Model/{mid}").json()["state"] == 5


def test_upload_plain_form_fields_and_object_data(client: TestClient) -> None:
    mid = client.post("/api/v2/OCR/Model/", json={"categories": ["number_plate"]}).json()[
        "model_id"
    ]
    path, objects = sample_items(1)[0]
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/UploadFile/",
        data={"data": json.dumps({"filename": path.name, "object": objects}), "modelId": mid},
        files={"file": (path.name, path.read_bytes(), "image/jpeg")},
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v2/OCR/Model/{mid}").json()["categories"][0]["count"] == 1


def test_upload_urls(client: TestClient, httpserver_url: str) -> None:
    mid = client.post("/api/v2/OCR/Model/", json={"categories": ["number_plate"]}).json()[
        "model_id"
    ]
    path, objects = sample_items(1)[0]
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/UploadUrls/",
        data={
            "urls": f"{httpserver_url}/{path.name}",
            "data": json.dumps([{"filename": path.name, "object": objects}]),
        },
    )
    assert r.status_code == 200, r.text
    assert client.get(f"/api/v2/OCR/Model/{mid}").json()["categories"][0]["count"] == 1


def test_label_file_returns_boxes_and_text_and_is_stored(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = UNSEEN[0]
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/LabelFile/", files={"file": (path.name, path.read_bytes())}
    )
    assert r.status_code == 200, r.text
    [page] = r.json()["result"]
    assert page["input"] == path.name and page["page"] == 0
    assert page["size"]["width"] > 0
    for p in page["prediction"]:
        assert p["label"] == "number_plate" and p["xmin"] < p["xmax"] and 0 <= p["score"] <= 1
    stored = client.get(
        f"/api/v2/Inferences/Model/{mid}/InferenceRequest/{page['request_file_id']}"
    )
    assert (
        stored.status_code == 200 and stored.json()["result"][0]["prediction"] == page["prediction"]
    )


def test_label_pdf_gives_one_result_per_page(trained_client) -> None:  # type: ignore[no-untyped-def]
    import io

    from PIL import Image

    client, mid = trained_client
    images = [Image.open(p).convert("RGB") for p in UNSEEN]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", save_all=True, append_images=images[1:])
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/LabelFile/", files={"file": ("two.pdf", buf.getvalue())}
    )
    assert r.status_code == 200, r.text
    result = r.json()["result"]
    assert [p["page"] for p in result] == [0, 1]
    assert len({p["request_file_id"] for p in result}) == 1


def test_label_urls(trained_client, httpserver_url: str) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/LabelUrls/",
        data={"urls": f"{httpserver_url}/{sample_items(1)[0][0].name}"},
    )
    assert r.status_code == 200, r.text
    assert len(r.json()["result"]) == 1


def test_async_label_then_retrieve(trained_client, trained) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = UNSEEN[1]
    r = client.post(
        f"/api/v2/OCR/Model/{mid}/LabelFile/Async/", files={"file": (path.name, path.read_bytes())}
    )
    assert r.status_code == 200, r.text
    rid = r.json()["result"][0]["request_file_id"]
    pending = client.get(f"/api/v2/Inferences/Model/{mid}/InferenceRequest/{rid}").json()
    assert pending["status"] == "pending"
    run_jobs(trained[0])
    done = client.get(f"/api/v2/Inferences/Model/{mid}/InferenceRequest/{rid}").json()
    assert done["status"] == "done" and done["message"] == "Success" and len(done["result"]) == 1


def test_listing_verify_unverify_patch_delete(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = UNSEEN[0]
    page = client.post(
        f"/api/v2/OCR/Model/{mid}/LabelFile/", files={"file": (path.name, path.read_bytes())}
    ).json()["result"][0]
    rid = page["request_file_id"]
    day = _today()
    url = f"/api/v2/Inferences/Model/{mid}/ImageLevelInferences?start_day_interval={day}&current_batch_day={day}"
    before = client.get(url).json()
    assert rid in [i["request_file_id"] for i in before["unmoderated_images"]]
    assert before["unmoderated_images_count"] == len(before["unmoderated_images"])

    assert client.post(f"/api/v2/ImageLevelInferences/Model/{mid}/Verify/{rid}").status_code == 200
    after = client.get(url).json()
    assert rid in [i["request_file_id"] for i in after["moderated_images"]]
    assert after["moderated_images_count"] == before["moderated_images_count"] + 1
    old = client.get(
        f"{url.split('?')[0]}?start_day_interval={day - 30}&current_batch_day={day - 1}"
    ).json()
    assert old["moderated_images_count"] == 0 and old["unmoderated_images_count"] == 0

    assert (
        client.post(f"/api/v2/ImageLevelInferences/Model/{mid}/UnVerify/{rid}").json()["moderated"]
        is False
    )

    fixed = {
        "label": "number_plate",
        "xmin": 10,
        "ymin": 10,
        "xmax": 60,
        "ymax": 30,
        "ocr_text": "KA01AB1234",
    }
    r = client.patch(
        f"/api/v2/Inferences/Model/{mid}/ImageLevelInference",
        json={"id": page["id"], "predicted_boxes": [fixed]},
    )
    assert r.status_code == 200, r.text
    stored = client.get(f"/api/v2/Inferences/Model/{mid}/InferenceRequest/{rid}").json()
    assert stored["result"][0]["prediction"][0]["ocr_text"] == "KA01AB1234"

    assert (
        client.delete(f"/api/v2/Inferences/Model/{mid}/InferenceRequestFiles/{rid}").status_code
        == 200
    )
    assert client.get(f"/api/v2/Inferences/Model/{mid}/InferenceRequest/{rid}").status_code == 404


def test_training_progress_is_part_of_the_model_object(ctx, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import training

    mid = client.post("/api/v2/OCR/Model/", json={"categories": ["number_plate"]}).json()[
        "model_id"
    ]
    path, objects = sample_items(1)[0]
    client.post(
        f"/api/v2/OCR/Model/{mid}/UploadFile/",
        files={"file": (path.name, path.read_bytes())},
        data={"data": json.dumps([{"filename": path.name, "object": objects}])},
    )
    client.post(f"/api/v2/OCR/Model/{mid}/Train/")
    training._set_progress(ctx, mid, 0.5, started=0.0)
    body = client.get(f"/api/v2/OCR/Model/{mid}").json()
    assert body["state"] == 4 and body["progress"] == 0.5 and body["eta_seconds"] is not None


def test_workspaces_are_isolated_with_404(client: TestClient, ctx) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import auth

    mid = client.post("/api/v2/OCR/Model/", json={"categories": ["a"]}).json()["model_id"]
    other = auth.create_key(ctx, name="other", workspace="elsewhere")
    r = client.get(f"/api/v2/OCR/Model/{mid}", headers=basic(other))
    assert r.status_code == 404 and "message" in r.json()
    assert client.get("/api/v2/OCR/Models/", headers=basic(other)).json() == []
    path = sample_items(1)[0][0]
    assert (
        client.post(
            f"/api/v2/OCR/Model/{mid}/UploadFile/",
            files={"file": (path.name, path.read_bytes())},
            headers=basic(other),
        ).status_code
        == 404
    )


def test_healthz_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v2/{family}/Model/{model_id}/LabelFile/" in paths
    assert "/api/v1/models" in paths
