"""Blob store speed: put and get of 1 MiB blobs on a folder, on S3, and through the local cache.

    python benchmarks/blob_store.py [--endpoint http://minio:9000 --bucket NAME] [--n 50]

Without ``--endpoint`` it starts moto's S3 server in this process (credentials: any), so the
S3 figures show the client's and HTTP's cost, not a real store's; point it at MinIO or S3 for
those. Prints milliseconds per operation.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from docloop.storage import BlobStore, CachedBlobStore, StoreOptions, open_store
from docloop.storage.base import content_hash

T = TypeVar("T")


def _moto() -> tuple[str, str]:
    """moto's server on a free port with a fresh bucket: its endpoint and the bucket."""
    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False).start()
    # moto answers some racing PUTs of one key with a 500 (boto3 retries them); keep its
    # tracebacks out of the figures.
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="docloop-bench")
    return endpoint, "docloop-bench"


def _ms(op: Callable[[T], object], items: list[T]) -> float:
    """Mean milliseconds of ``op`` over ``items``, one after another."""
    started = time.perf_counter()
    for item in items:
        op(item)
    return (time.perf_counter() - started) / len(items) * 1000


def measure(name: str, store: BlobStore, blobs: list[bytes]) -> None:
    put = _ms(store.put, blobs)
    again = _ms(store.put, blobs)  # already stored: the idempotent path
    digests = [content_hash(b) for b in blobs]
    get = _ms(store.get, digests)
    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(store.put, [os.urandom(2**20)] * 32))
    racing = (time.perf_counter() - started) / 32 * 1000
    print(
        f"{name:<18} put {put:6.1f}   put again {again:6.1f}   get {get:6.1f}   "
        f"one new blob from 8 threads {racing:6.1f}  (ms per operation)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint")
    parser.add_argument("--bucket")
    parser.add_argument("--n", type=int, default=50)
    args = parser.parse_args()
    endpoint, bucket = (args.endpoint, args.bucket) if args.endpoint else _moto()
    blobs = [os.urandom(2**20) for _ in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        measure("file", open_store(Path(tmp, "store").as_uri()), blobs)
        url = f"s3://{bucket}/bench-{uuid.uuid4().hex[:8]}"
        remote = open_store(url, StoreOptions(endpoint_url=endpoint))
        measure("s3", remote, blobs)
        cached = CachedBlobStore(remote, Path(tmp, "cache"), 2**30)
        measure("s3 + local cache", cached, [os.urandom(2**20) for _ in range(args.n)])
        print(f"({args.n} random blobs of 1 MiB each)")


if __name__ == "__main__":
    main()
