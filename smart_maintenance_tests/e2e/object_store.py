"""A real S3-compatible server for tests: moto's standalone server (from PyPI) on a loopback port.

It speaks the S3 HTTP API, so the pipeline reaches it exactly as it would reach AWS S3 or MinIO:
through s3fs with the standard AWS environment variables. Nothing in the code under test knows it is
talking to moto.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from smart_maintenance_tests.e2e.servers import LOOPBACK, VENV_BIN, free_port, log_tail

START_TIMEOUT_S = 60.0


@contextlib.contextmanager
def s3_server(log_dir: Path, bucket: str = "plant-data") -> Iterator[dict[str, str]]:
    """Yields the AWS environment variables that point a client at the server, with `bucket` created."""
    port = free_port()
    log = log_dir / "moto.log"
    with open(log, "ab") as fh:
        process = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", LOOPBACK, "-p", str(port)],
                                   stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    env = {"AWS_ACCESS_KEY_ID": "test-key", "AWS_SECRET_ACCESS_KEY": "test-secret", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://{LOOPBACK}:{port}"}
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(f"http://{LOOPBACK}:{port}/", timeout=2).close()
                break
            except OSError as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto server did not start ({exc})\n{log_tail(log)}") from exc
                time.sleep(0.2)
        request = urllib.request.Request(f"http://{LOOPBACK}:{port}/{bucket}", method="PUT")
        urllib.request.urlopen(request, timeout=10).close()  # CreateBucket (moto accepts unsigned requests)
        yield env
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
        assert process.poll() is not None, "the moto server is still running"
