"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph...) through boto3.

boto3 because MLflow already speaks S3 through it (artifacts of a run land in the same bucket
with the same credentials and endpoint), its clients are safe to share between threads, and it
retries throttled and failed requests by itself. Credentials and region come from boto3's
standard chain (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, an
instance or pod role).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from docloop.errors import InvalidInput, NotFound, StorageUnavailable
from docloop.storage.base import NAMED_ROOT, blob_key, check_digest, check_name, content_hash

T = TypeVar("T")
CHECK_KEY = ".docloop-check"
_MISSING = {"404", "NoSuchKey", "NotFound"}


class S3BlobStore:
    def __init__(self, url: str, *, endpoint_url: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        parsed = urlparse(url)
        if parsed.scheme != "s3" or not parsed.netloc:
            raise InvalidInput(f"not an s3://bucket/prefix URL: {url!r}")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/")
        self.url = f"s3://{self.bucket}" + (f"/{self.prefix}" if self.prefix else "")
        self.endpoint_url = endpoint_url
        self.client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 4, "mode": "standard"},
                # Non-AWS stores (MinIO, moto, Ceph) serve buckets by path, not by host name.
                s3={"addressing_style": "path"} if endpoint_url else None,
            ),
        )

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _call(self, what: str, request: Callable[[], T]) -> T:
        """Run one request; a refusal or silence becomes ``StorageUnavailable`` saying why."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return request()
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING:
                raise
            raise StorageUnavailable(f"{what} in {self.url} failed: {exc}") from exc
        except BotoCoreError as exc:  # no credentials, endpoint unreachable, timeouts
            raise StorageUnavailable(f"{what} in {self.url} failed: {exc}") from exc

    def _head(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._call("reading", lambda: self.client.head_object(Bucket=self.bucket, Key=key))
        except ClientError:  # only "missing" gets through _call
            return False
        return True

    def _read(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            reply: Any = self._call(
                "reading", lambda: self.client.get_object(Bucket=self.bucket, Key=key)
            )
            return bytes(self._call("reading", reply["Body"].read))
        except ClientError:
            return None

    def _write(self, key: str, data: bytes) -> None:
        self._call(
            "writing", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        )

    def put(self, data: bytes) -> str:
        """A blob already there is left alone; two writers racing both write the same bytes,
        and S3 replaces an object whole, so either write leaves it intact."""
        digest = content_hash(data)
        key = self._key(blob_key(digest))
        if not self._head(key):
            self._write(key, data)
        return digest

    def get(self, digest: str) -> bytes:
        data = self._read(self._key(blob_key(check_digest(digest))))
        if data is None:
            raise NotFound(f"no blob {digest}")
        return data

    def exists(self, digest: str) -> bool:
        return self._head(self._key(blob_key(check_digest(digest))))

    def check(self) -> None:
        self._write(self._key(CHECK_KEY), b"ok")

    def put_named(self, name: str, data: bytes) -> None:
        self._write(self._key(f"{NAMED_ROOT}/{check_name(name)}"), data)

    def get_named(self, name: str) -> bytes | None:
        return self._read(self._key(f"{NAMED_ROOT}/{check_name(name)}"))

    def list_named(self, prefix: str) -> list[str]:
        base = self._key(NAMED_ROOT) + "/"
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{base}{check_name(prefix)}/"
        )
        return sorted(
            item["Key"][len(base) :]
            for page in self._call("listing", lambda: list(pages))
            for item in page.get("Contents", [])
        )

    def delete_named(self, prefix: str) -> None:
        keys = [self._key(f"{NAMED_ROOT}/{name}") for name in self.list_named(prefix)]
        for i in range(0, len(keys), 1000):
            batch = {"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
            self._call(
                "deleting",
                lambda b=batch: self.client.delete_objects(Bucket=self.bucket, Delete=b),  # type: ignore[misc]
            )
