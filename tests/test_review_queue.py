"""The review queue in SQL: filters, counts, sort orders, keyset pages, a file's position and
"next", on SQLite and PostgreSQL, and the summary columns kept up to date and backfilled."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from docloop.api.app import create_app
from docloop.db.tables import InferencePage
from docloop.errors import InvalidInput
from docloop.services import auth, models, predictions, review_queue, routing
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.predictions import DONE, epoch_day
from docloop.services.review_queue import (
    QueueCounts,
    QueueOrder,
    QueuePage,
    QueuePosition,
    ReviewFilter,
)
from tests.conftest import basic, png_bytes

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def _box(label: str, score: float, text: str = "X", status: str = "correctly_predicted") -> dict:  # type: ignore[type-arg]
    return {"label": label, "xmin": 1, "ymin": 1, "xmax": 20, "ymax": 10, "score": score,
            "ocr_text": text, "status": status}  # fmt: skip


def add_file(
    ctx: AppContext,
    who: Principal,
    model_id: str,
    name: str,
    minutes: int,
    boxes: list[dict],  # type: ignore[type-arg]
) -> str:
    """A processed file created ``minutes`` after T0 whose page holds ``boxes``, stored through
    the same correction path the editor uses (so its summary is kept the real way)."""
    created = T0 + timedelta(minutes=minutes)
    with ctx.session() as s:
        row = predictions._new_file(
            s, model_id, name, ctx.blobs.put(png_bytes()), "image/png", None, status=DONE
        )
        row.created_at, row.day = created, epoch_day(created)
        s.add(InferencePage(id=str(uuid.uuid4()), file_id=row.id, page=0, width=64, height=48,
                            predictions=[]))  # fmt: skip
        file_id = row.id
    predictions.update_page(
        ctx, who, model_id, {"request_file_id": file_id, "predicted_boxes": boxes}
    )
    return file_id


@pytest.fixture
def queue(db_ctx: AppContext) -> tuple[AppContext, Principal, str, dict[str, str]]:
    """Six files: scores, labels and moderation chosen so each filter and sort differs."""
    who = auth.authenticate(db_ctx, "test-admin-key")
    model_id = models.create_model(db_ctx, who, categories=["plate", "make"]).id
    specs: list[tuple[str, list[dict[str, Any]]]] = [
        ("a.png", [_box("plate", 0.9)]),
        ("b.png", [_box("plate", 0.4), _box("make", 0.95)]),
        ("c.png", []),
        ("d.png", [_box("make", 0.7)]),
        ("e.png", [_box("plate", 0.2, status="wrong"), _box("plate", 0.8)]),
        ("f.png", [_box("plate", 0.6)]),
    ]
    ids = {
        name: add_file(db_ctx, who, model_id, name, n, boxes)
        for n, (name, boxes) in enumerate(specs)
    }
    predictions.set_moderated(db_ctx, who, model_id, ids["d.png"], True)
    return db_ctx, who, model_id, ids


def _names(page: QueuePage, ids: dict[str, str]) -> list[str]:
    back = {v: k for k, v in ids.items()}
    return [back[f.id] for f in page.files]


def _walk(ctx, who, model_id, f, order, limit):  # type: ignore[no-untyped-def]
    """Every page forwards, then every page back from the last one."""
    pages, cursor = [], None
    while True:
        page = review_queue.search(ctx, who, model_id, f, order, limit=limit, cursor=cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    back, cursor = [pages[-1]], pages[-1].prev_cursor
    while cursor is not None:
        page = review_queue.search(ctx, who, model_id, f, order, limit=limit, cursor=cursor)
        back.append(page)
        cursor = page.prev_cursor
    return pages, back[::-1]


def test_filters_counts_and_summaries(queue) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id, ids = queue
    every = review_queue.search(ctx, who, model_id, ReviewFilter())
    assert _names(every, ids) == ["f.png", "e.png", "d.png", "c.png", "b.png", "a.png"]
    assert every.counts == QueueCounts(moderated=1, unmoderated=5) and every.total == 6
    by_name = {f.filename: f for f in every.files}
    # A field marked wrong is not a field: e.png is read for its 0.8 plate only.
    assert (by_name["e.png"].fields, by_name["e.png"].min_score) == (1, 0.8)
    assert by_name["b.png"].labels == ["make", "plate"]
    assert by_name["c.png"].min_score is None and by_name["c.png"].fields == 0
    assert by_name["a.png"].thumbnail_url.endswith(
        f"/predictions/{ids['a.png']}/pages/0/image?max_side=240"
    )
    waiting = review_queue.search(ctx, who, model_id, ReviewFilter(moderated=False))
    assert "d.png" not in _names(waiting, ids) and waiting.total == 5
    assert waiting.counts == every.counts, "counts do not depend on the moderated filter"
    makes = review_queue.search(ctx, who, model_id, ReviewFilter(label="make"))
    assert _names(makes, ids) == ["d.png", "b.png"]
    assert makes.counts == QueueCounts(moderated=1, unmoderated=1)
    for near in ("pl_te", "%", "plat", "late"):  # a whole label, taken literally
        assert review_queue.search(ctx, who, model_id, ReviewFilter(label=near)).total == 0
    low = review_queue.search(ctx, who, model_id, ReviewFilter(below=0.65))
    assert _names(low, ids) == ["f.png", "b.png"]
    day = T0.date()
    assert review_queue.search(ctx, who, model_id, ReviewFilter(start=day, end=day)).total == 6
    later = review_queue.search(ctx, who, model_id, ReviewFilter(start=day + timedelta(days=1)))
    assert later.total == 0 and later.files == []


def test_sort_orders_and_keyset_pages_walk_every_file_once(queue) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id, ids = queue
    score_asc = review_queue.search(
        ctx, who, model_id, ReviewFilter(), QueueOrder("min_score", "asc")
    )
    # No field, no score: after every score ascending, before every score descending.
    assert _names(score_asc, ids) == ["b.png", "f.png", "d.png", "e.png", "a.png", "c.png"]
    score_desc = review_queue.search(
        ctx, who, model_id, ReviewFilter(), QueueOrder("min_score", "desc")
    )
    assert _names(score_desc, ids) == list(reversed(_names(score_asc, ids)))
    for sort in review_queue.SORTS:
        for order in ("asc", "desc"):
            walk = QueueOrder(sort, order)
            whole = review_queue.search(ctx, who, model_id, ReviewFilter(), walk, limit=200)
            forwards, backwards = _walk(
                ctx, who, model_id, ReviewFilter(), walk, 4 if sort == "fields" else 2
            )
            seen = [f.id for p in forwards for f in p.files]
            assert seen == [f.id for f in whole.files], (sort, order)
            assert [f.id for p in backwards for f in p.files] == seen, (sort, order)
            assert forwards[0].prev_cursor is None and forwards[-1].next_cursor is None
    named = review_queue.search(ctx, who, model_id, ReviewFilter(), QueueOrder("filename", "asc"))
    assert _names(named, ids) == sorted(ids)


def test_position_and_next_walk_the_filtered_order(queue) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id, ids = queue
    waiting, order = ReviewFilter(moderated=False), QueueOrder("min_score", "asc")
    listed = [f.id for f in review_queue.search(ctx, who, model_id, waiting, order).files]
    for n, file_id in enumerate(listed):
        at = review_queue.position(ctx, who, model_id, file_id, waiting, order)
        assert at == QueuePosition(
            position=n + 1,
            total=len(listed),
            previous=listed[n - 1] if n else None,
            next=listed[n + 1] if n + 1 < len(listed) else None,
        )
        assert review_queue.next_file(ctx, who, model_id, file_id, waiting, order) == (
            listed[n + 1] if n + 1 < len(listed) else listed[0]
        )
    # Approving a file takes it out of the waiting queue; "next" still continues from its place.
    predictions.set_moderated(ctx, who, model_id, listed[1], True)
    at = review_queue.position(ctx, who, model_id, listed[1], waiting, order)
    assert (at.position, at.total, at.next) == (None, len(listed) - 1, listed[2])
    assert review_queue.next_file(ctx, who, model_id, "", waiting, order) == listed[0]


def test_summaries_follow_corrections_and_the_threshold(queue) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id, ids = queue

    def low() -> list[str]:
        return _names(review_queue.search(ctx, who, model_id, ReviewFilter(below=0.5)), ids)

    assert low() == ["b.png"]
    boxes = [_box("plate", 0.9), _box("make", 0.3)]
    predictions.update_page(
        ctx, who, model_id, {"request_file_id": ids["a.png"], "predicted_boxes": boxes}
    )
    assert low() == ["b.png", "a.png"]
    # A lesser plate under the threshold beside a better one is an alternative, not a field.
    boxes = [_box("plate", 0.9), _box("plate", 0.1)]
    predictions.update_page(
        ctx, who, model_id, {"request_file_id": ids["f.png"], "predicted_boxes": boxes}
    )
    assert "f.png" not in low()
    # Lowering the threshold under its score makes it a field: every summary is recomputed.
    routing.configure(ctx, who, model_id, threshold=0.05, rules=None, webhook_url=None)
    assert "f.png" in low()


def test_bad_queue_parameters_are_named(queue) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id, ids = queue
    for f, order, limit, message in [
        (ReviewFilter(below=2), QueueOrder(), 50, "below"),
        (
            ReviewFilter(start=T0.date(), end=T0.date() - timedelta(days=1)),
            QueueOrder(),
            50,
            "start",
        ),
        (ReviewFilter(), QueueOrder("size"), 50, "sort must be one of"),
        (ReviewFilter(), QueueOrder("filename", "up"), 50, "order must be asc or desc"),
        (ReviewFilter(), QueueOrder(), 0, "limit"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            review_queue.search(ctx, who, model_id, f, order, limit=limit)
    page = review_queue.search(ctx, who, model_id, ReviewFilter(), limit=2)
    with pytest.raises(InvalidInput, match="another sort order"):
        review_queue.search(
            ctx, who, model_id, ReviewFilter(), QueueOrder("filename"), cursor=page.next_cursor
        )
    with pytest.raises(InvalidInput, match="cursor"):
        review_queue.search(ctx, who, model_id, ReviewFilter(), cursor="not-a-cursor")


def test_queue_api_contract_and_thumbnails(queue) -> None:  # type: ignore[no-untyped-def]
    ctx, who, model_id, ids = queue
    with TestClient(create_app(ctx.settings, ctx=ctx), headers=basic("test-admin-key")) as c:
        base = f"/api/v1/models/{model_id}/review"
        page = c.get(base, params={"sort": "filename", "order": "asc", "limit": 2}).json()
        assert set(page) == {"counts", "total", "files", "next_cursor", "prev_cursor"}
        assert [f["filename"] for f in page["files"]] == ["a.png", "b.png"]
        second = c.get(base, params={"sort": "filename", "order": "asc", "limit": 2,
                                     "cursor": page["next_cursor"]}).json()  # fmt: skip
        assert [f["filename"] for f in second["files"]] == ["c.png", "d.png"]
        at = c.get(f"{base}/{ids['c.png']}/position", params={"sort": "filename", "order": "asc"})
        assert at.json() == {"position": 3, "total": 6, "previous": ids["b.png"],
                             "next": ids["d.png"]}  # fmt: skip
        nxt = c.get(f"{base}/next", params={"current": ids["c.png"], "sort": "filename",
                                            "order": "asc"})  # fmt: skip
        assert nxt.json() == {"next": ids["e.png"]}, "next skips the approved d.png by default"
        for params, name in [({"sort": "size"}, "sort"), ({"order": "up"}, "order"),
                             ({"limit": 0}, "limit"), ({"limit": 201}, "limit"),
                             ({"cursor": "zzz"}, "cursor"), ({"below": "x"}, "below")]:  # fmt: skip
            r = c.get(base, params=params)
            assert r.status_code in (400, 422) and name in r.json()["message"], (params, r.text)
        r = c.get(f"{base}/nope/position")
        assert r.status_code == 404
        thumb = c.get(page["files"][0]["thumbnail_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
        import io

        from PIL import Image

        assert max(Image.open(io.BytesIO(thumb.content)).size) <= 240
        again = c.get(page["files"][0]["thumbnail_url"])
        assert again.content == thumb.content
        small = c.get(f"/api/v1/models/{model_id}/predictions/{ids['a.png']}/pages/0/image",
                      params={"max_side": 20})  # fmt: skip
        assert max(Image.open(io.BytesIO(small.content)).size) == 20
        r = c.get(f"/api/v1/models/{model_id}/predictions/{ids['a.png']}/pages/0/image",
                  params={"max_side": 5})  # fmt: skip
        assert r.status_code == 400 and "max_side" in r.json()["message"]


def test_migration_backfills_the_summaries_of_stored_files(tmp_path, any_db_url) -> None:  # type: ignore[no-untyped-def]
    """Files predicted before the summary columns existed are listed and filtered correctly."""
    import sqlalchemy as sa
    from alembic import command

    from docloop.db.migrate import alembic_config, upgrade

    url = any_db_url or f"sqlite:///{tmp_path / 'old.db'}"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    command.upgrade(alembic_config(url), "0006")
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine)
    t = meta.tables
    preds = [_box("plate", 0.3), _box("make", 0.9), _box("plate", 0.1, status="wrong")]
    with engine.begin() as conn:
        conn.execute(t["workspaces"].insert(), [{"id": "w", "name": "w", "created_at": T0}])
        conn.execute(t["models"].insert(), [{
            "id": "m", "workspace_id": "w", "name": "m", "model_type": "ocr",
            "categories": ["plate", "make"], "created_at": T0, "updated_at": T0,
        }])  # fmt: skip
        conn.execute(t["inference_files"].insert(), [{
            "id": "f", "model_id": "m", "filename": "f.png", "blob_hash": "0", "media_type": "x",
            "status": DONE, "moderated": False, "day": epoch_day(T0), "created_at": T0,
        }])  # fmt: skip
        conn.execute(t["inference_pages"].insert(), [{
            "id": "p", "file_id": "f", "page": 0, "width": 64, "height": 48,
            "predictions": preds, "updated_at": T0,
        }])  # fmt: skip
    engine.dispose()
    upgrade(url)
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT field_count, flagged_count, min_score, labels FROM inference_files")
        ).one()
        assert tuple(row) == (2, 0, 0.3, "\x1fmake\x1fplate\x1f")
    engine.dispose()


def test_loop_figures_are_counted_in_sql(queue) -> None:  # type: ignore[no-untyped-def]
    from docloop.services import review

    ctx, who, model_id, ids = queue
    # Each file was stored through one "replace" of its page, d.png then approved.
    predictions.set_moderated(ctx, who, model_id, ids["a.png"], True)
    with ctx.session() as s:
        row = predictions._new_file(s, model_id, "g.png", "0", "image/png", None, status=DONE)
        row.moderated, row.moderated_by = True, predictions.STRAIGHT_THROUGH
    assert review.stats(ctx, who, model_id) == review.ReviewStats(
        processed=7,
        approved=3,
        straight_through=1,
        approved_without_correction=1,
        automation_rate=round(1 / 7, 4),
        fields_changed=6,
        files_corrected=6,
    )


def test_most_useful_first_through_the_api(queue) -> None:  # type: ignore[no-untyped-def]
    """``sort=usefulness&order=desc`` lists the waiting files most useful first, a file
    predicted before scores were stored (no score) ahead of them, and pages by keyset."""
    from docloop.db.tables import InferenceFile

    ctx, who, model_id, ids = queue
    scores = {"a.png": 0.2, "b.png": 0.9, "d.png": 0.95, "e.png": 0.5, "f.png": 0.7}
    with ctx.session() as s:
        for name, score in scores.items():
            s.get(InferenceFile, ids[name]).usefulness = score
    with TestClient(create_app(ctx.settings, ctx=ctx), headers=basic("test-admin-key")) as c:
        base = f"/api/v1/models/{model_id}/review"
        params = {"sort": "usefulness", "order": "desc", "moderated": "false", "limit": 3}
        first = c.get(base, params=params).json()
        rest = c.get(base, params={**params, "cursor": first["next_cursor"]}).json()
        listed = [f["filename"] for f in first["files"] + rest["files"]]
        # d.png is approved: not waiting; c.png has no score.
        assert listed == ["c.png", "b.png", "f.png", "e.png", "a.png"]
        assert [f["usefulness"] for f in first["files"]] == [None, 0.9, 0.7]
        nxt = c.get(f"{base}/next", params={"current": ids["b.png"], "sort": "usefulness",
                                            "order": "desc"})  # fmt: skip
        assert nxt.json() == {"next": ids["f.png"]}


def test_a_prediction_stores_its_usefulness_for_the_queue(trained_client) -> None:  # type: ignore[no-untyped-def]
    """A served prediction of a trained model is scored (ensemble outputs, layout clusters),
    and the queue sorts the files by it."""
    from tests.conftest import sample_items

    c, model_id = trained_client
    for path, _ in sample_items(20)[16:]:
        r = c.post(
            f"/api/v2/OCR/Model/{model_id}/LabelFile/",
            files={"file": (path.name, path.read_bytes())},
        )
        assert r.status_code == 200, r.text
    found = c.get(f"/api/v1/models/{model_id}/review",
                  params={"sort": "usefulness", "order": "desc", "limit": 200}).json()  # fmt: skip
    scores = [f["usefulness"] for f in found["files"] if f["usefulness"] is not None]
    assert len(scores) >= 4 and all(0 <= s <= 1 for s in scores)
    assert scores == sorted(scores, reverse=True)
