"""Each call of Nanonets' v2 OCR reference, sent as the reference shows it, with the status and
the response shape a Nanonets client reads (docs/nanonets.md lists them)."""

from __future__ import annotations

import base64
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docloop.samples import PLATES
from tests.conftest import png_bytes, run_jobs, sample_items

UNSEEN = sorted((PLATES / "unseen").iterdir())
V2 = "/api/v2"


def _today() -> int:
    return int(datetime.now(UTC).timestamp() // 86400)


def _model(client: TestClient, family: str = "OCR") -> str:
    r = client.post(f"{V2}/{family}/Model/", json={"categories": ["number_plate"]})
    assert r.status_code == 200, r.text
    return str(r.json()["model_id"])


def _assert_model_object(body: dict[str, Any]) -> None:
    assert isinstance(body["model_id"], str) and isinstance(body["model_type"], str)
    assert isinstance(body["state"], int) and isinstance(body["status"], str)
    for c in body["categories"]:
        assert isinstance(c["name"], str) and isinstance(c["count"], int)


def _assert_prediction(p: dict[str, Any]) -> None:
    assert isinstance(p["id"], str) and isinstance(p["label"], str)
    for k in ("xmin", "ymin", "xmax", "ymax"):
        assert isinstance(p[k], int | float)
    assert isinstance(p["score"], float) and 0 <= p["score"] <= 1
    assert isinstance(p["ocr_text"], str) and isinstance(p["status"], str)
    assert p["type"] == "field" and isinstance(p["page_no"], int)


def _assert_page(page: dict[str, Any]) -> None:
    assert page["message"] == "Success" and isinstance(page["input"], str)
    assert isinstance(page["page"], int) and isinstance(page["request_file_id"], str)
    assert isinstance(page["id"], str) and isinstance(page["processing_type"], str)
    assert isinstance(page["size"]["width"], int) and isinstance(page["size"]["height"], int)
    assert datetime.fromisoformat(page["created_at"]).tzinfo is not None
    for p in page["prediction"]:
        _assert_prediction(p)


def _assert_listing(body: dict[str, Any]) -> None:
    assert isinstance(body["moderated_images_count"], int)
    assert body["moderated_images_count"] == len(body["moderated_images"])
    assert body["unmoderated_images_count"] == len(body["unmoderated_images"])
    assert isinstance(body["signed_urls"], dict)
    for item in body["moderated_images"] + body["unmoderated_images"]:
        assert isinstance(item["model_id"], str) and isinstance(item["id"], str)
        assert isinstance(item["day_since_epoch"], int)
        assert isinstance(item["is_moderated"], bool) and isinstance(item["url"], str)
        assert isinstance(item["request_file_id"], str)
        for p in item["predicted_boxes"]:
            _assert_prediction(p)


def _label(client: TestClient, mid: str, path: Any = UNSEEN[0]) -> dict[str, Any]:
    r = client.post(
        f"{V2}/OCR/Model/{mid}/LabelFile/", files={"file": (path.name, path.read_bytes())}
    )
    assert r.status_code == 200, r.text
    return dict(r.json()["result"][0])


# Models ---------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["OCR", "ObjectDetection"])
def test_create_get_and_list_with_and_without_slash(client: TestClient, family: str) -> None:
    r = client.post(
        f"{V2}/{family}/Model", json={"categories": ["number_plate"], "model_type": "ocr"}
    )
    assert r.status_code == 200, r.text
    _assert_model_object(r.json())
    mid = r.json()["model_id"]
    for path in (f"/Model/{mid}", f"/Model/{mid}/", f"/Model/?modelId={mid}"):
        got = client.get(f"{V2}/{family}{path}")
        assert got.status_code == 200 and got.json()["model_id"] == mid, path
    for path in ("/Model/", "/Model", "/Models/", "/Models"):
        assert [m["model_id"] for m in client.get(f"{V2}/{family}{path}").json()] == [mid]


@pytest.mark.parametrize("family", ["OCR", "ObjectDetection"])
def test_annotations_as_the_official_wrapper_reads_them(client: TestClient, family: str) -> None:
    mid = _model(client, family)
    path, objects = sample_items(1)[0]
    client.post(
        f"{V2}/{family}/Model/{mid}/UploadFile/",
        files={"file": (path.name, path.read_bytes()), "data": ("", json.dumps(
            [{"filename": path.name, "object": objects}]))},
    )  # fmt: skip
    for suffix in ("Annotations", "Annotations/"):
        r = client.get(f"{V2}/{family}/Model/{mid}/{suffix}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert [d["filename"] for d in body["Data"]] == [path.name]
        assert body["Data"][0]["object"][0]["name"] == "number_plate"
        assert datetime.fromisoformat(body["Data"][0]["created_at"]).tzinfo is not None
        meta = body["Meta"]
        assert meta["categories"] == [{"name": "number_plate", "count": 1}]
        assert meta["state"] == 2 and isinstance(meta["status"], str)


# Training data and training ---------------------------------------------------------------


def test_upload_file_with_model_id_as_a_part_or_a_query(client: TestClient) -> None:
    mid = _model(client)
    (a, a_obj), (b, b_obj) = sample_items(2)
    r = client.post(
        f"{V2}/OCR/UploadFile/",
        files={"file": (a.name, a.read_bytes()), "modelId": ("", mid),
               "data": ("", json.dumps([{"filename": a.name, "object": a_obj}]))},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["message"] == "Success", r.text
    r = client.post(
        f"{V2}/OCR/UploadFile?modelId={mid}",
        data={"data": json.dumps([{"filename": b.name, "object": b_obj}])},
        files={"file": (b.name, b.read_bytes())},
    )
    assert r.status_code == 200, r.text
    assert client.get(f"{V2}/OCR/Model/{mid}").json()["categories"][0]["count"] == 2


def test_upload_urls_as_json(client: TestClient, httpserver_url: str) -> None:
    mid = _model(client)
    path, objects = sample_items(1)[0]
    r = client.post(
        f"{V2}/OCR/Model/{mid}/UploadUrls/",
        json={"urls": [f"{httpserver_url}/{path.name}"],
              "data": [{"filename": path.name, "object": objects}]},
    )  # fmt: skip
    assert r.status_code == 200 and r.json()["message"] == "Success", r.text


def test_train_with_model_id_in_the_query(client: TestClient) -> None:
    mid = _model(client)
    path, objects = sample_items(1)[0]
    client.post(
        f"{V2}/OCR/Model/{mid}/UploadFile/",
        files={"file": (path.name, path.read_bytes())},
        data={"data": json.dumps([{"filename": path.name, "object": objects}])},
    )
    for url in (f"{V2}/OCR/Model/{mid}/Train/?modelId={mid}", f"{V2}/OCR/Train?modelId={mid}"):
        r = client.post(url)
        assert r.status_code == 200, r.text
        _assert_model_object(r.json())
        assert r.json()["state"] == 3


# Prediction ------------------------------------------------------------------------------


def test_label_file_shape(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = UNSEEN[0]
    r = client.post(
        f"{V2}/OCR/Model/{mid}/LabelFile",
        files={"file": (path.name, path.read_bytes())},
        data={"request_metadata": "plate-1"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["message"] == "Success" and isinstance(body["signed_urls"], dict)
    [page] = body["result"]
    _assert_page(page)
    assert page["input"] == path.name and page["request_metadata"] == "plate-1"
    assert page["processing_type"] == ""


def test_label_file_from_base64(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = UNSEEN[0]
    encoded = base64.b64encode(path.read_bytes()).decode()
    r = client.post(
        f"{V2}/OCR/Model/{mid}/LabelFile/",
        json={"base64_data": f"data:image/jpeg;base64,{encoded}", "filename": path.name},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["input"] == path.name
    bad = client.post(f"{V2}/OCR/Model/{mid}/LabelFile/", json={"base64_data": "%%%"})
    assert bad.status_code == 400 and "base64" in bad.json()["message"]


def test_label_file_with_model_id_as_a_part(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = UNSEEN[0]
    r = client.post(
        f"{V2}/ObjectDetection/LabelFile/",
        files={"file": (path.name, path.read_bytes()), "modelId": ("", mid)},
    )
    assert r.status_code == 200, r.text
    _assert_page(r.json()["result"][0])


@pytest.mark.parametrize("as_json", [False, True])
def test_label_urls_form_or_json(trained_client, httpserver_url: str, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    urls = [f"{httpserver_url}/{p.name}" for p, _ in sample_items(2)]
    payload = {"json": {"urls": urls}} if as_json else {"data": {"urls": urls, "modelId": mid}}
    r = client.post(f"{V2}/OCR/Model/{mid}/LabelUrls/", **payload)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    assert [p["input"] for p in r.json()["result"]] == [u.rsplit("/", 1)[1] for u in urls]


def _assert_queued(body: dict[str, Any]) -> str:
    assert body["message"] == "Success"
    [item] = body["result"]
    assert item["processing_type"] == "async" and item["prediction"] == []
    assert isinstance(item["request_file_id"], str) and isinstance(item["input"], str)
    assert isinstance(item["size"]["width"], int)
    return str(item["request_file_id"])


def test_async_file_and_urls_then_retrieve(trained_client, trained, httpserver_url: str) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    path = UNSEEN[1]
    ids = [
        _assert_queued(client.post(
            f"{V2}/OCR/Model/{mid}/LabelFile/Async/",
            files={"file": (path.name, path.read_bytes())},
        ).json()),
        _assert_queued(client.post(
            f"{V2}/OCR/Model/{mid}/LabelFile/",
            files={"file": (path.name, path.read_bytes())}, data={"async": "true"},
        ).json()),
        _assert_queued(client.post(
            f"{V2}/OCR/Model/{mid}/LabelUrls/Async/",
            data={"urls": f"{httpserver_url}/{sample_items(1)[0][0].name}"},
        ).json()),
    ]  # fmt: skip
    pending = client.get(f"{V2}/Inferences/Model/{mid}/InferenceRequest/{ids[0]}").json()
    assert pending["message"] == "Pending" and pending["status"] == "pending"
    assert datetime.fromisoformat(pending["created_at"]).tzinfo is not None
    run_jobs(trained[0])
    older = f"{V2}/Inferences/Model/{mid}/InferenceRequestFiles/GetPredictions/{ids[0]}"
    assert client.get(older).json()["request_file_id"] == ids[0]
    for rid in ids:
        r = client.get(f"{V2}/Inferences/Model/{mid}/InferenceRequest/{rid}/")
        assert r.status_code == 200, r.text
        done = r.json()
        assert done["message"] == "Success" and done["status"] == "done"
        _assert_listing(done)
        assert done["unmoderated_images_count"] == len(done["result"]) == 1
        _assert_page(done["result"][0])


# Retrieval and moderation -------------------------------------------------------------------


def test_time_windowed_listing_and_a_page_by_id(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    page = _label(client, mid)
    day = _today()
    for path in ("InferenceRequest/", "InferenceRequest", "ImageLevelInferences"):
        r = client.get(
            f"{V2}/Inferences/Model/{mid}/{path}",
            params={"start_day_interval": day, "current_batch_day": day},
        )
        assert r.status_code == 200, r.text
        _assert_listing(r.json())
        assert page["id"] in [i["id"] for i in r.json()["unmoderated_images"]]
    empty = client.get(
        f"{V2}/Inferences/Model/{mid}/InferenceRequest/",
        params={"start_day_interval": day - 30, "current_batch_day": day - 1},
    ).json()
    assert empty["moderated_images_count"] == empty["unmoderated_images_count"] == 0
    base = f"{V2}/Inferences/Model/{mid}/InferenceRequest/{page['request_file_id']}/page"
    for page_id in (page["id"], "0"):
        r = client.get(f"{base}/{page_id}")
        assert r.status_code == 200, r.text
        assert [i["id"] for i in r.json()["unmoderated_images"]] == [page["id"]]
    assert client.get(f"{base}/no-such-page").status_code == 404


def test_verify_and_unverify_in_both_spellings(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    rid = _label(client, mid)["request_file_id"]
    for prefix in (
        f"{V2}/ImageLevelInferences/Model/{mid}",
        f"{V2}/Inferences/Model/{mid}/ImageLevelInferences",
    ):
        r = client.post(f"{prefix}/Verify/{rid}")
        assert r.status_code == 200 and r.json()["moderated"] is True, r.text
        stored = client.get(f"{V2}/Inferences/Model/{mid}/InferenceRequest/{rid}").json()
        assert stored["moderated_images_count"] == 1 and stored["unmoderated_images_count"] == 0
        assert client.post(f"{prefix}/UnVerify/{rid}/").json()["moderated"] is False


def test_alternatives_are_left_out_unless_asked_for(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    page = _label(client, mid)
    field = {
        "label": "number_plate",
        "xmin": 10,
        "ymin": 10,
        "xmax": 90,
        "ymax": 40,
        "ocr_text": "KA01AB1234",
        "score": 0.9,
        "status": "correctly_predicted",
    }
    doubted = {**field, "xmin": 100, "xmax": 180, "ocr_text": "LENSKINA", "score": 0.0017}
    confirmed = {**doubted, "ocr_text": "KA02CD5678", "status": "corrected"}
    r = client.patch(
        f"{V2}/Inferences/Model/{mid}/ImageLevelInference",
        json={"id": page["id"], "predicted_boxes": [field, doubted, confirmed]},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    url = f"{V2}/Inferences/Model/{mid}/InferenceRequest/{page['request_file_id']}"
    texts = [p["ocr_text"] for p in client.get(url).json()["result"][0]["prediction"]]
    assert texts == ["KA01AB1234", "KA02CD5678"]
    listed = client.get(url).json()["unmoderated_images"][0]["predicted_boxes"]
    assert [p["ocr_text"] for p in listed] == texts
    everything = client.get(url, params={"include_alternatives": "true"}).json()
    assert [p["ocr_text"] for p in everything["result"][0]["prediction"]] == [
        "KA01AB1234", "LENSKINA", "KA02CD5678",
    ]  # fmt: skip


def test_patch_then_delete(trained_client) -> None:  # type: ignore[no-untyped-def]
    client, mid = trained_client
    page = _label(client, mid)
    fixed = {"label": "number_plate", "xmin": 5, "ymin": 5, "xmax": 50, "ymax": 25,
             "ocr_text": "MH12XY9999"}  # fmt: skip
    r = client.patch(
        f"{V2}/Inferences/Model/{mid}/ImageLevelInference/",
        json={"request_file_id": page["request_file_id"], "page": 0, "predicted_boxes": [fixed]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"][0]["prediction"][0]["ocr_text"] == "MH12XY9999"
    url = f"{V2}/Inferences/Model/{mid}/InferenceRequestFiles/{page['request_file_id']}"
    assert client.delete(url).json()["message"] == "Success"
    assert client.delete(url).status_code == 404


def test_assign_files_to_a_member(trained_client, trained) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import users

    client, mid = trained_client
    users.create_user(
        trained[0], email="contract-member@example.com", password="a long password", role="reviewer"
    )
    rid = _label(client, mid)["request_file_id"]
    r = client.post(
        f"{V2}/team/members/model/{mid}/assign/files",
        json={"member": "Contract-Member@Example.com", "file_ids": [rid]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["result"] == [
        {"request_file_id": rid, "assigned_to": "contract-member@example.com"}
    ]
    missing = client.post(f"{V2}/team/members/model/{mid}/assign/files", json={"file_ids": [rid]})
    assert missing.status_code == 400 and "member" in missing.json()["message"]


class _Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that keeps what it is sent."""

    bodies: list[dict[str, Any]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        _Receiver.bodies.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()


def test_retry_exports_of_approved_files(trained_client, trained) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import auth, routing

    client, mid = trained_client
    ctx = trained[0]
    url = f"{V2}/Inferences/Model/{mid}/ImageLevelInferences/retryallexports"
    approved = _label(client, mid)["request_file_id"]
    waiting = _label(client, mid)["request_file_id"]
    client.post(f"{V2}/ImageLevelInferences/Model/{mid}/Verify/{approved}")
    r = client.post(url, json={"file_ids": [approved]})
    assert r.status_code == 409 and "webhook" in r.json()["message"]
    who = auth.authenticate(ctx, "test-admin-key")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    routing.configure(ctx, who, mid, threshold=None, rules=None, webhook_url=hook)
    try:
        r = client.post(url, json={"file_ids": [approved, waiting]})
        assert r.status_code == 200, r.text
        assert r.json()["queued"] == [approved]
        assert r.json()["skipped"] == [
            {"request_file_id": waiting, "reason": "the file is not approved"}
        ]
        assert client.post(url + "/", json={}).json()["queued"] == []  # none failed
        run_jobs(ctx)
        [delivered] = [b for b in _Receiver.bodies if b["request_file_id"] == approved]
        assert datetime.fromisoformat(delivered["approved_at"]).tzinfo is not None
    finally:
        routing.configure(ctx, who, mid, threshold=None, rules=None, webhook_url=None)
        server.shutdown()


# Errors ---------------------------------------------------------------------------------


def test_errors_in_nanonets_words(client: TestClient, trained_client) -> None:  # type: ignore[no-untyped-def]
    r = client.get(f"{V2}/OCR/Model/does-not-exist")
    body = r.json()
    assert r.status_code == 404 and body["message"].startswith("Model does not exists.")
    assert body["code"] == 404 and body["errors"][0]["reason"] == "Not Found"
    trained, mid = trained_client
    cases = [
        (f"{V2}/OCR/Model/{mid}/LabelFile/", {}, "no file was sent"),
        (f"{V2}/OCR/Model/{mid}/LabelFile/", {"files": {"file": ("a.png", b"not an image")}},
         "not a JPEG"),
        (f"{V2}/OCR/LabelFile/", {"files": {"file": ("a.png", png_bytes())}}, "modelId"),
    ]  # fmt: skip
    for url, kwargs, needle in cases:
        r = trained.post(url, **kwargs)
        assert r.status_code == 400 and needle in r.json()["message"], r.text
        assert r.json()["code"] == 400 and r.json()["errors"][0]["reason"] == "Bad Request"
