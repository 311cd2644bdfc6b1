"""Dataset versions: what exactly a model learned from, and what changed between two trainings.

Each training snapshots the model's training files (by content hash) with their annotations and
page sizes, as validation cleaned them: the version is what the model learned from. The digest
covers contents and annotations only, not file names or upload order, so
two trainings on unchanged data share one version, and a model version can always say which data
made it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from docloop.db.tables import DatasetVersion, ModelVersion, TrainingFile
from docloop.errors import NotFound
from docloop.services.auth import Principal
from docloop.services.context import AppContext
from docloop.services.models import load_model


@dataclass(frozen=True, slots=True)
class VersionSummary:
    """A dataset version in a list: its size and the model versions trained on it."""

    id: str
    digest: str
    files: int
    annotations: int
    created_at: str
    model_versions: list[int]


@dataclass(frozen=True, slots=True, order=True)
class FileRef:
    """A file of a dataset version: a name it had and its content hash."""

    filename: str
    blob_hash: str


@dataclass(frozen=True, slots=True)
class VersionDiff:
    """Files added, removed and re-annotated from version ``from_`` to version ``to``."""

    from_: str
    to: str
    added: list[FileRef]
    removed: list[FileRef]
    reannotated: list[FileRef]


def content(f: dict[str, Any]) -> list[Any]:
    """What a file teaches: its bytes (by hash), its annotations and, when it has one, its
    transcription. Files without one keep the digest they had before transcriptions existed."""
    return [
        f["blob_hash"],
        f["annotations"],
        *([f["transcription"]] if f.get("transcription") else []),
    ]


def _digest(files: list[dict[str, Any]]) -> str:
    canonical = [content(f) for f in files]
    return hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()


def current_files(ctx: AppContext, model_id: str) -> list[dict[str, Any]]:
    """The model's training files as they are now, ordered by content (not upload time: the
    same files train the same model however they came)."""
    with ctx.session() as s:
        rows = s.scalars(
            select(TrainingFile)
            .where(TrainingFile.model_id == model_id)
            .order_by(TrainingFile.blob_hash, TrainingFile.id)
        ).all()
        return [
            {
                "blob_hash": f.blob_hash,
                "filename": f.filename,
                "pages": f.pages,
                "annotations": f.annotations,
                "transcription": f.transcription,
            }
            for f in rows
        ]


def record(ctx: AppContext, model_id: str, files: list[dict[str, Any]]) -> tuple[str, str, bool]:
    """The version holding exactly ``files``: its id, its digest, and whether it is new."""
    digest = _digest(files)
    existing = _find(ctx, model_id, digest)
    if existing is not None:
        return existing, digest, False
    version_id = str(uuid.uuid4())
    try:
        with ctx.session() as s:
            s.add(DatasetVersion(id=version_id, model_id=model_id, digest=digest, files=files))
    except IntegrityError:  # another training recorded the same data a moment earlier
        found = _find(ctx, model_id, digest)
        assert found is not None
        return found, digest, False
    return version_id, digest, True


def _find(ctx: AppContext, model_id: str, digest: str) -> str | None:
    with ctx.session() as s:
        return s.scalar(
            select(DatasetVersion.id).where(
                DatasetVersion.model_id == model_id, DatasetVersion.digest == digest
            )
        )


def list_versions(ctx: AppContext, who: Principal, model_id: str) -> list[VersionSummary]:
    """Oldest first, with the model versions trained on each."""
    with ctx.session() as s:
        load_model(s, who, model_id)
        versions = s.scalars(
            select(DatasetVersion)
            .where(DatasetVersion.model_id == model_id)
            .order_by(DatasetVersion.created_at, DatasetVersion.id)
        ).all()
        trained = s.execute(
            select(ModelVersion.dataset_version_id, ModelVersion.number).where(
                ModelVersion.model_id == model_id
            )
        ).all()
        return [
            VersionSummary(
                id=v.id,
                digest=v.digest,
                files=len(v.files),
                annotations=sum(len(f["annotations"]) for f in v.files),
                created_at=v.created_at.isoformat(),
                model_versions=sorted(n for d, n in trained if d == v.id),
            )
            for v in versions
        ]


def diff(ctx: AppContext, who: Principal, model_id: str, old: str, new: str) -> VersionDiff:
    """Files added, removed and re-annotated from version ``old`` to version ``new``."""
    with ctx.session() as s:
        load_model(s, who, model_id)
        before, after = (_by_content(_load(s, model_id, v).files) for v in (old, new))
    return VersionDiff(
        from_=old,
        to=new,
        added=_named(after, after.keys() - before.keys()),
        removed=_named(before, before.keys() - after.keys()),
        reannotated=_named(
            after, {h for h in after.keys() & before.keys() if after[h][1] != before[h][1]}
        ),
    )


def _load(session: Session, model_id: str, version_id: str) -> DatasetVersion:
    version = session.get(DatasetVersion, version_id)
    if version is None or version.model_id != model_id:
        raise NotFound(f"no dataset version {version_id!r} for this model")
    return version


def _by_content(files: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Content hash -> (a file name, its annotations and transcription as canonical JSON)."""
    out: dict[str, tuple[str, str]] = {}
    for f in files:
        name, anns = out.get(f["blob_hash"], (f["filename"], ""))
        out[f["blob_hash"]] = (name, anns + json.dumps(content(f)[1:], sort_keys=True))
    return out


def _named(files: dict[str, tuple[str, str]], hashes: set[str]) -> list[FileRef]:
    """The files of ``hashes``, by name then hash."""
    return sorted(FileRef(files[h][0], h) for h in hashes)
