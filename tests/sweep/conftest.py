"""A Dask scheduler and two worker processes started on 127.0.0.1 (random free ports), for the tests
that show the sweep works like a cluster; every process is ended when the module's tests finish."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _start(args, log: Path) -> subprocess.Popen:
    with log.open("w") as f:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", *args], stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _stop(p: subprocess.Popen) -> None:
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


class Cluster:
    """A scheduler address and its worker processes (``workers[name] -> Popen``)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.file = tmp / "scheduler.json"
        self.scheduler = _start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                                 "--no-dashboard", "--scheduler-file", str(self.file)], tmp / "scheduler.log")
        t0 = time.time()
        while not self.file.exists() or not self.file.read_text().strip():
            if time.time() - t0 > 30 or self.scheduler.poll() is not None:
                raise RuntimeError("the Dask scheduler did not start: " + (tmp / "scheduler.log").read_text()[-2000:])
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        self.workers: dict[str, subprocess.Popen] = {}

    def add_worker(self, name: str) -> subprocess.Popen:
        p = _start(["distributed.cli.dask_worker", self.address, "--host", "127.0.0.1", "--nthreads", "1",
                    "--no-nanny", "--no-dashboard", "--memory-limit", "1GiB", "--name", name],
                   self.tmp / f"{name}.log")
        self.workers[name] = p
        return p

    def wait_for(self, n: int, timeout: float = 60.0):
        from distributed import Client
        with Client(self.address, timeout="20s") as c:
            c.wait_for_workers(n, timeout=timeout)
            return {w["name"]: w["pid"] if "pid" in w else None for w in c.scheduler_info()["workers"].values()}

    def close(self) -> None:
        for p in self.workers.values():
            _stop(p)
        _stop(self.scheduler)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("distributed")
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.add_worker("w1")
        c.add_worker("w2")
        c.wait_for(2)
        yield c
    finally:
        c.close()
