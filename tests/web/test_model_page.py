"""The model page when a retrain validated worse: it says why the new version is not served,
shows both figures, and offers Promote to the roles that may do it."""

from __future__ import annotations

import uuid
from typing import Any

from docloop.db.tables import Model, ModelVersion
from docloop.services import model_versions, models
from tests.web.conftest import SCREENS, Site, accessibility_problems, sign_in


def _version(site: Site, model_id: str, number: int, accuracy: float) -> ModelVersion:
    pages = {f"page-{n}": {"number_plate": [n < accuracy * 20, True]} for n in range(20)}
    return ModelVersion(
        id=str(uuid.uuid4()), model_id=model_id, number=number, dataset_version_id=None,
        artifact_hash=site.ctx.blobs.put(b"bundle %d" % number), train_seconds=1.0,
        metrics={"val_text_accuracy": accuracy, "val_pages": pages, "train_pages": 20},
    )  # fmt: skip


def _retrained_worse(site: Site) -> str:
    """A model whose version 1 serves and whose version 2, trained later, validated worse: as
    training registers them (the same promotion gate)."""
    model = models.create_model(site.ctx, site.admin, categories=["number_plate"], name="gated")
    with site.ctx.session() as s:
        row = s.get(Model, model.id)
        first = _version(site, model.id, 1, 0.9)
        s.add(first)
        s.flush()
        model_versions.set_production(s, row, first, action="auto", reason="first", by="test")
        second = _version(site, model.id, 2, 0.8)
        s.add(second)
        s.flush()
        promoted, _ = model_versions.gate(s, row, second, force=False)
        assert not promoted
    return model.id


def test_a_version_that_validated_worse_is_explained_and_can_be_promoted(
    site: Site, page: Any
) -> None:
    model_id = _retrained_worse(site)
    sign_in(page, site, "reviewer", then=f"/models/{model_id}")
    held = page.locator("#held-back")
    assert "Version 2 is trained but not served" in held.inner_text()
    assert "validated worse than version 1" in held.inner_text()
    assert (page.inner_text("#held-new"), page.inner_text("#held-served")) == ("80.0%", "90.0%")
    assert page.locator("#promote").count() == 0, "a reviewer may not promote"
    assert "admin or data scientist can promote" in page.inner_text("#promote-who")

    page.context.clear_cookies()
    sign_in(page, site, "data_scientist", then=f"/models/{model_id}")
    page.screenshot(path=str(SCREENS / "model-held-back.png"))
    assert accessibility_problems(page) == []
    page.click("#promote")
    page.wait_for_selector("#held-back", state="detached")
    assert models.get_model(site.ctx, site.admin, model_id).version == 2
    assert "serving" in page.locator("#versions tbody tr").first.inner_text()


def test_an_annotator_sees_the_model_page_without_panels_it_may_not_read(
    site: Site, page: Any
) -> None:
    sign_in(page, site, "annotator", then=f"/models/{site.model_id}")
    page.wait_for_selector("#model")
    assert page.locator("#stats, #routing, #export").count() == 0
    assert page.locator("a", has_text="Review predictions").count() == 0
    page.wait_for_function("document.getElementById('status').textContent !== ''")
    assert page.inner_text("#message") == "", "no refused call shows up as an error"
