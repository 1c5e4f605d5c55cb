"""bench/peers: the peers get scones' own decode and model, the CPU count sees a server's
workers, and the load generator measures a real server over HTTP (the comparison itself is
`python bench/peers/run.py --quick`, minutes long, with peers installed in their own venvs)."""

from __future__ import annotations

import asyncio
import base64
import http.server
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from tests.helpers import png_bytes, tiny_artifact

PEERS = Path(__file__).resolve().parents[1] / "bench" / "peers"


def bench_module(name: str) -> ModuleType:
    """A bench/peers script as a module (they are scripts beside each other, not a package)."""
    spec = importlib.util.spec_from_file_location(f"peers_{name}", PEERS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_peers_decode_and_model_answer_as_scones_does(tmp_path: Path) -> None:
    from scones.endpoint.predictor import Predictor
    from scones.model.preprocess import decode

    run, common = bench_module("run"), bench_module("common")
    artifact = tiny_artifact()
    model = tmp_path / "model.tar.gz"
    model.write_bytes(artifact.pack())
    peer = common.Model(str(run.write_spec(model, tmp_path)))
    scones = Predictor(artifact, threads=1)
    images = [png_bytes((200, 30, 30)), png_bytes((30, 30, 200)), png_bytes((120, 120, 120), size=40)]
    ours = scones.predict_images(np.stack([decode(image) for image in images]))
    theirs = peer.predict([peer.decode(image) for image in images])
    assert theirs.shape == (3, 2) and np.allclose(theirs, ours, atol=1e-5)
    assert theirs[0].argmax() == 0 and theirs[1].argmax() == 1  # red -> bicycle, blue -> motorcycle


@contextmanager
def burning_child(burn: str) -> Iterator[subprocess.Popen[bytes]]:
    """A parent process whose child runs `burn` (which prints 'burnt' once its CPU is spent); killed after."""
    spawn = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {burn!r}]); time.sleep(30)"
    parent = subprocess.Popen([sys.executable, "-c", spawn], stdout=subprocess.PIPE, start_new_session=True)
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"burnt\n"
        yield parent
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
        parent.wait(10)


def test_tree_cpu_seconds_counts_the_workers_a_server_forks() -> None:
    run = bench_module("run")
    # a child burns 0.6 s of CPU, says so on the pipe it shares with its parent, then waits
    burn = (
        "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.6: pass\n"
        "print('burnt', flush=True)\ntime.sleep(30)"
    )
    with burning_child(burn) as parent:
        assert run.tree_cpu_seconds(parent.pid) >= 0.5  # /proc counts whole ticks; the parent alone is ~0.05


def test_schedstat_reads_every_thread_of_a_servers_children() -> None:
    schedstat = bench_module("schedstat")
    # a child's second thread burns 0.6 s of CPU, says so on the pipe it shares with its parent, then waits
    burn = (
        "import threading, time\n"
        "def spin():\n    t = time.thread_time()\n    while time.thread_time() - t < 0.6: pass\n"
        "    print('burnt', flush=True)\n    time.sleep(30)\n"
        "threading.Thread(target=spin).start()\ntime.sleep(30)"
    )
    with burning_child(burn) as parent:
        stats = schedstat.thread_stats(parent.pid)
        children = {pid for pid, _ in stats} - {parent.pid}
        assert len(children) == 1
        (child,) = children
        threads = {tid: values for (pid, tid), values in stats.items() if pid == child}
        assert len(threads) == 2  # the main thread and the spinning one, each read on its own
        spinner = max(threads.values())
        assert spinner[0] >= 0.5 and spinner[2] >= 1  # seconds on a CPU, slices


def test_stop_ends_a_servers_children_that_left_its_process_group() -> None:
    run = bench_module("run")
    # the child sits in a session and process group of its own, as Ray's actors do: the group's SIGTERM misses it
    child = "import os, time; os.setsid(); print(os.getpid(), flush=True); time.sleep(60)"
    parent_code = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(60)"
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, start_new_session=True)
    assert parent.stdout is not None
    child_pid = int(parent.stdout.readline())
    assert os.getpgid(child_pid) != parent.pid
    run.stop([(0, parent)])
    assert parent.wait(5) is not None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _running(child_pid):
        time.sleep(0.05)
    assert not _running(child_pid)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        # a PNG raw or in a form, or base64 in JSON (LitServe's or the V2 protocol's): anything else is a bad request
        answer = b"[0.25, 0.75]" if _png_in(body) else b"bad"
        self.send_response(200 if answer != b"bad" else 400)
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


def _png_in(body: bytes) -> bool:
    if b"\x89PNG" in body:
        return True
    try:
        data = json.loads(body)
        encoded = data["image"] if "image" in data else data["inputs"][0]["data"][0]
        return base64.b64decode(encoded).startswith(b"\x89PNG")
    except (ValueError, KeyError, IndexError, TypeError):
        return False


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("body", ["png", "json-b64", "v2-json", "multipart"])
def test_the_load_generator_counts_answers_and_latencies_from_a_real_server(server: int, body: str) -> None:
    load = bench_module("load")
    result = asyncio.run(load.load(server, "/invocations", body, 4, 0.5))
    assert result["requests"] > 0 and result["errors"] == 0
    assert 0 < result["p50_ms"] <= result["p99_ms"]
    assert result["client_cpu_s_per_1000"] > 0  # the generator's own CPU, which the server cannot have
