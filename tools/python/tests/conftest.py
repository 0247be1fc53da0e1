"""Fixtures: a real `strata serve` (bin/strata, built by `make test-python`)
on free loopback ports, and Parquet datasets written with pyarrow into a
directory the server registers as file:// sources."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tools" / "python"))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

# Rows per Parquet file of the test dataset (row groups of 16 rows).
SHAPE = [40, 1, 57, 33, 16, 70, 25, 9, 48, 100, 64, 31, 7, 90]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, data_dir):
        self.http = "127.0.0.1:%d" % free_port()
        self.flight = "127.0.0.1:%d" % free_port()
        raft = "127.0.0.1:%d" % free_port()
        self.log_path = os.path.join(data_dir, "server.log")
        os.makedirs(os.path.join(data_dir, "data"), exist_ok=True)
        args = [
            str(binary), "serve",
            "--data-dir", os.path.join(data_dir, "data"),
            "--http-addr", self.http,
            "--flight-addr", self.flight,
            "--raft-addr", raft,
            "--kafka-addr=", "--mqtt-addr=", "--mqtt-tls-addr=", "--mqtt-ws-addr=", "--mqtt-wss-addr=",
        ]
        self.log = open(self.log_path, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATA_")}
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, cwd=data_dir, env=env)

    @property
    def location(self):
        return "grpc://" + self.flight

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-4000:]

    def wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("strata serve exited with %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                with urllib.request.urlopen("http://%s/readyz" % self.http, timeout=1) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("strata serve not ready after %ss:\n%s" % (timeout, self.logs()))

    def register(self, name, directory, fmt="parquet"):
        body = json.dumps({"name": name, "source": "file://" + str(directory), "format": fmt}).encode()
        req = urllib.request.Request("http://%s/api/v1/datasets" % self.http, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                assert r.status in (200, 201), r.status
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError("POST /api/v1/datasets: %s %s" % (e.code, e.read().decode(errors="replace")))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def server():
    binary = Path(os.environ.get("STRATA_BIN", ROOT / "bin" / "strata"))
    if not binary.exists():
        pytest.fail("%s is missing: build it with `go build -o bin/strata ./cmd/strata` (make test-python does)" % binary)
    with tempfile.TemporaryDirectory(prefix="strata-py-") as d:
        s = Server(binary, d)
        try:
            s.wait_ready()
            yield s
        finally:
            s.stop()


@pytest.fixture(scope="session")
def parquet_dataset(server, tmp_path_factory):
    """A registered Parquet dataset of SHAPE: (name, ids in key order). id is
    unique; label and score are derived from it."""
    d = tmp_path_factory.mktemp("pq")
    ids = []
    first = 0
    for i, n in enumerate(SHAPE):
        col = list(range(first, first + n))
        table = pa.table({
            "id": pa.array(col, pa.int64()),
            "label": pa.array(["label-%d" % (v % 10) for v in col], pa.string()),
            "score": pa.array([v / 4 for v in col], pa.float64()),
        })
        pq.write_table(table, str(d / ("part-%03d.parquet" % i)), row_group_size=16)
        ids += col
        first += n
    res = server.register("py-parquet", d)
    assert res["dataset"]["rows"] == len(ids), res
    return "py-parquet", ids
