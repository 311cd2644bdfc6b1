"""The blob-store contract on each backend (a folder, and S3 through moto's server over HTTP),
the URL factory, the local cache, and the errors an operator sees when the store is unusable."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from docloop.errors import InvalidInput, NotFound, StorageUnavailable
from docloop.storage import (
    BlobStore,
    CachedBlobStore,
    LocalBlobStore,
    StoreOptions,
    open_store,
)
from docloop.storage.base import blob_key, content_hash
from docloop.storage.s3 import S3BlobStore
from tests.conftest import S3Server, start_moto


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "file":
        return open_store(tmp_path.joinpath("store").as_uri())
    s3: S3Server = request.getfixturevalue("s3_server")
    return open_store(s3.url(uuid.uuid4().hex), StoreOptions(endpoint_url=s3.endpoint_url))


def test_blobs_are_content_addressed_and_missing_ones_are_not_found(store: BlobStore) -> None:
    store.check()
    digest = store.put(b"hello")
    assert digest == content_hash(b"hello")
    assert store.put(b"hello") == digest and store.get(digest) == b"hello"
    assert store.exists(digest) and not store.exists("f" * 64)
    for missing in ("f" * 64, "../etc/passwd", "not-a-digest"):
        with pytest.raises(NotFound):
            store.get(missing)


def test_named_objects_are_replaced_whole_listed_and_deleted(store: BlobStore) -> None:
    assert store.get_named("train/k1/member-1.pt") is None
    store.put_named("train/k1/member-1.pt", b"epoch 1")
    store.put_named("train/k1/member-1.pt", b"epoch 2")
    store.put_named("train/k1/member-2.pt", b"other")
    store.put_named("train/k2/member-1.pt", b"another training")
    assert store.get_named("train/k1/member-1.pt") == b"epoch 2"
    assert store.list_named("train/k1") == ["train/k1/member-1.pt", "train/k1/member-2.pt"]
    store.delete_named("train/k1")
    assert store.list_named("train/k1") == [] and store.list_named("train") == [
        "train/k2/member-1.pt"
    ]
    for bad in ("../escape", "/absolute", "a//b", "a/../b", ""):
        with pytest.raises(InvalidInput):
            store.put_named(bad, b"x")


def test_concurrent_writers_of_the_same_blob_leave_it_whole(store: BlobStore) -> None:
    """Two workers finishing the same step write the same bytes under the same name."""
    data = os.urandom(3 * 2**20)
    with ThreadPoolExecutor(8) as pool:
        digests = list(pool.map(lambda _: store.put(data), range(16)))
    assert set(digests) == {content_hash(data)}
    assert store.get(digests[0]) == data


def test_the_factory_maps_each_scheme_to_its_backend(tmp_path: Path, s3_server: S3Server) -> None:
    local = open_store(tmp_path.joinpath("a b").as_uri())
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "a b"
    cached = open_store(
        s3_server.url("factory"),
        StoreOptions(s3_server.endpoint_url, cache_dir=tmp_path / "cache", cache_bytes=2**20),
    )
    assert isinstance(cached, CachedBlobStore) and cached.url == s3_server.url("factory")
    uncached = open_store(s3_server.url("factory"), StoreOptions(s3_server.endpoint_url))
    assert not isinstance(uncached, CachedBlobStore)
    for bad, reason in [
        ("gs://bucket/x", "use one of file://, s3://"),
        ("relative/path", "use one of"),
        ("file://host/share", "file:///absolute/path"),
        ("s3:///no-bucket", "s3://bucket/prefix"),
    ]:
        with pytest.raises(InvalidInput, match=reason):
            open_store(bad)


def test_the_cache_serves_blobs_the_store_lost_and_stays_within_its_size(
    tmp_path: Path, s3_server: S3Server
) -> None:
    remote = S3BlobStore(s3_server.url(uuid.uuid4().hex), endpoint_url=s3_server.endpoint_url)
    cache = CachedBlobStore(remote, tmp_path / "cache", max_bytes=5000)
    blobs = [os.urandom(1000) for _ in range(8)]
    digests = [cache.put(b) for b in blobs]
    on_disk = sum(p.stat().st_size for p in (tmp_path / "cache").rglob("*") if p.is_file())
    assert on_disk <= 5000
    assert cache.local.exists(digests[-1]) and not cache.local.exists(digests[0])
    # A cached blob is read locally: it still reads after the bucket lost it.
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_server.endpoint_url)
    s3.delete_object(Bucket=s3_server.bucket, Key=f"{remote.prefix}/{blob_key(digests[-1])}")
    assert cache.get(digests[-1]) == blobs[-1]
    # A lost cache costs a remote read, never a failure.
    shutil.rmtree(tmp_path / "cache")
    assert cache.get(digests[0]) == blobs[0]
    with pytest.raises(NotFound):
        cache.get(digests[-1])


@contextlib.contextmanager
def _refusing_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_an_unreachable_store_says_so(s3_server: S3Server) -> None:
    with _refusing_port() as port:
        store = open_store("s3://docloop-test/x", StoreOptions(f"http://127.0.0.1:{port}"))
        with pytest.raises(StorageUnavailable, match="Could not connect"):
            store.check()
        with pytest.raises(StorageUnavailable):
            store.get("f" * 64)


def test_a_missing_bucket_says_so(s3_server: S3Server) -> None:
    store = open_store("s3://no-such-bucket/x", StoreOptions(s3_server.endpoint_url))
    with pytest.raises(StorageUnavailable, match="NoSuchBucket"):
        store.check()


def test_missing_credentials_say_so(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = open_store(s3_server.url("x"), StoreOptions(s3_server.endpoint_url))
    with pytest.raises(StorageUnavailable, match="credentials"):
        store.check()


def test_wrong_credentials_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that checks keys (moto with authentication on) refuses an unknown one."""
    proc, endpoint = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "not-a-known-key")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        store = open_store("s3://docloop-test/x", StoreOptions(endpoint))
        with pytest.raises(StorageUnavailable, match="InvalidAccessKeyId"):
            store.check()
    finally:
        proc.terminate()
        proc.wait(10)


def test_a_folder_that_cannot_be_written_says_so(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    (tmp_path / "blobs").rename(tmp_path / "gone")
    (tmp_path / "blobs").write_text("a file where the folder was")
    with pytest.raises(StorageUnavailable, match="not writable"):
        store.check()
