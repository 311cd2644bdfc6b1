"""Everything a use case needs, built once per process from the settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from docloop.config import Settings
from docloop.db.engine import make_engine, make_session_factory
from docloop.db.migrate import behind, upgrade
from docloop.metrics import Metrics
from docloop.ml.engines.base import OcrEngine
from docloop.ml.engines.processes import ProcessPoolEngine
from docloop.ml.engines.rapid import OcrProfile, RapidOcrEngine, engine_name
from docloop.ml.infer import PredictorCache
from docloop.storage import BlobStore, StoreOptions, open_store


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    ocr: OcrEngine
    predictors: PredictorCache = field(default_factory=PredictorCache)
    metrics: Metrics = field(default_factory=Metrics)
    on_close: list[Callable[[], None]] = field(default_factory=list)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block succeeds, rolled back when it raises."""
        with self.sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def close(self) -> None:
        for release in self.on_close:
            release()
        self.engine.dispose()


def ocr_profile(settings: Settings) -> OcrProfile:
    return OcrProfile(
        charset=settings.ocr_charset, engines=settings.ocr_engines, threads=settings.ocr_threads
    )


def build_ocr(settings: Settings) -> RapidOcrEngine | ProcessPoolEngine:
    """The configured OCR engine: a pool of engines in child processes, or of threads."""
    profile, models = ocr_profile(settings), settings.home / "ocr-models"
    if not settings.ocr_processes:
        return RapidOcrEngine(profile, cache_dir=models)
    one = replace(profile, engines=1)
    return ProcessPoolEngine(
        partial(RapidOcrEngine, one, models), engine_name(profile), profile.pool_size
    )


def build_blobs(settings: Settings) -> BlobStore:
    """The configured store, with a local cache of its blobs when it is remote."""
    options = StoreOptions(
        endpoint_url=settings.s3_endpoint_url,
        cache_dir=settings.blob_cache_dir,
        cache_bytes=settings.blob_cache_mb * 2**20,
    )
    return open_store(settings.storage, options)


def build_context(settings: Settings, *, ocr: OcrEngine | None = None) -> AppContext:
    """Create folders, migrate the database (when ``settings.migrates_at_start``), and create
    the bootstrap key if configured and the schema allows it (else `docloop migrate` does)."""
    from docloop.services import auth

    settings.home.mkdir(parents=True, exist_ok=True)
    url = settings.sqlalchemy_url
    if settings.migrates_at_start:
        upgrade(url)
    engine = make_engine(url)
    reader = ocr if ocr is not None else build_ocr(settings)
    ctx = AppContext(
        settings=settings,
        engine=engine,
        sessions=make_session_factory(engine),
        blobs=build_blobs(settings),
        ocr=reader,
    )
    if ocr is None and isinstance(reader, ProcessPoolEngine):
        ctx.on_close.append(reader.close)  # the caller closes an engine it passes in
    if settings.bootstrap_api_key and (settings.migrates_at_start or _schema_current(engine)):
        auth.ensure_key(ctx, settings.bootstrap_api_key, name="bootstrap", admin=True)
    return ctx


def _schema_current(engine: Engine) -> bool:
    """Whether the schema is at head; an unreachable database is not (``/readyz`` says why)."""
    try:
        return behind(engine) is None
    except SQLAlchemyError:
        return False
