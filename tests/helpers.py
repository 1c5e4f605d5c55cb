"""Small real things tests build inline: a tiny ONNX model artifact, PNG images, endpoint rows,
and real server processes started and polled until healthy."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from PIL import Image

from scones import state
from scones.config import Settings
from scones.endpoint import table
from scones.model.artifact import Artifact, Manifest, Preprocessing, sha256


def tiny_onnx(num_classes: int = 2, sharpness: float = 6.0) -> bytes:
    """A 32x32 RGB classifier whose answer is plain to predict: red images -> class 0,
    blue images -> class 1, grey ones -> near 0.5 (low confidence).

    Graph: input (N,3,32,32) -> mean over H,W = embedding (N,3) -> MatMul + bias -> Softmax.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.zeros((3, num_classes), dtype=np.float32)
    weights[0, 0], weights[2, 0] = sharpness, -sharpness  # red up, blue down
    if num_classes > 1:
        weights[0, 1], weights[2, 1] = -sharpness, sharpness
    bias = np.zeros(num_classes, dtype=np.float32)
    axes = numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes")
    nodes = [
        helper.make_node("ReduceMean", ["input", "axes"], ["embedding"], keepdims=0),
        helper.make_node("MatMul", ["embedding", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "B"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
        [
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", num_classes]),
            helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", 3]),
        ],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B"), axes],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    onnx.checker.check_model(model)
    return model.SerializeToString()


def tiny_artifact(classes: tuple[str, ...] = ("bicycle", "motorcycle")) -> Artifact:
    """A complete, valid scones artifact around `tiny_onnx`."""
    data = tiny_onnx(len(classes))
    manifest = Manifest(
        classes=list(classes),
        preprocessing=Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        embedding_dim=3,
        training_job="tiny-test-model",
        metrics={"validation_accuracy": 1.0},
        model_sha256=sha256(data),
        created="2026-01-01T00:00:00.000Z",
    )
    return Artifact(manifest=manifest, onnx=data)


def flipped_artifact() -> Artifact:
    """Like tiny_artifact, but red images -> class 1: the answers show which model served."""
    data = tiny_onnx(sharpness=-6.0)
    manifest = Manifest(
        classes=["bicycle", "motorcycle"],
        preprocessing=Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)),
        embedding_dim=3,
        training_job="tiny-flipped",
        model_sha256=sha256(data),
    )
    return Artifact(manifest=manifest, onnx=data)


def write_model(path: Path, artifact: Artifact | None = None) -> Path:
    """`artifact` (default: the tiny one) as a model.tar.gz file at `path`."""
    path.write_bytes((artifact or tiny_artifact()).pack())
    return path


def png_bytes(color: tuple[int, int, int] = (200, 30, 30), size: int = 32, mode: str = "RGB") -> bytes:
    """A solid-colour PNG (red -> bicycle, blue -> motorcycle, grey -> unsure, for tiny_onnx)."""
    image = Image.new("RGB", (size, size), color).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def stage_colours(store: Any, bucket: str = "scones") -> None:
    """A 3-image test split at s3://<bucket>/data/test(.lst) the tiny artifact gets right and the flipped one all wrong:
    red -> bicycle (0), blue -> motorcycle (1)."""
    lines = []
    for i, (colour, label) in enumerate([((230, 20, 20), 0), ((20, 20, 230), 1), ((30, 20, 220), 1)]):
        store.put(bucket, f"data/test/c{i}.png", png_bytes(colour))
        lines.append(f"{i}\t{label}\tc{i}.png\n")
    store.put(bucket, "data/test.lst", "".join(lines).encode())


def register_endpoint(
    settings: Settings,
    name: str,
    url: str,
    *,
    status: str = "InService",
    model: str = "tiny",
    config: dict[str, Any] | None = None,
    pid: int | None = None,
) -> None:
    """Record endpoint `name` at `url` in the endpoints table (through its owner), as `scones deploy` does."""
    with closing(table.connect(settings)) as conn:
        table.put_creating(conn, name, url, model, config or {}, created=state.now())
        if pid is not None:
            table.set_pid(conn, name, pid)
        table.set_status(conn, name, status)


# -- server processes ---------------------------------------------------------------------------
SCONES = (sys.executable, "-c", "from scones.cli import main; main()")  # the `scones` command, this interpreter


def wait_healthy(process: subprocess.Popen[Any], url: str, timeout: float = 60.0, log: Path | None = None) -> None:
    """Return once GET `url` answers 200; AssertionError if `process` exits first (with its log) or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if log is not None:
                detail = log.read_text(errors="replace")
            else:
                detail = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise AssertionError(
                f"the server exited with {process.returncode} before {url} was healthy: {detail[-2000:]}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.1)
    raise AssertionError(f"{url} was not healthy within {timeout:.0f} s")


class Served:
    """A server process started by `served`: its URL, its process, and its stderr once stopped."""

    def __init__(self, process: subprocess.Popen[bytes], url: str) -> None:
        self.process, self.url = process, url
        self.stderr = b""


@contextmanager
def served(
    command: Sequence[str], url: str, health: str = "/ping", env: Mapping[str, str] | None = None, timeout: float = 60
) -> Iterator[Served]:
    """Start the server `command`, wait until `url + health` answers 200, and SIGTERM it when the block ends.

    `with served([*SCONES, "serve", "--model", m, "--port", p], f"http://127.0.0.1:{p}") as server:`
    """
    process = subprocess.Popen(
        list(command), env=dict(env) if env is not None else None, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    server = Served(process, url)
    try:
        wait_healthy(process, url + health, timeout)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        server.stderr = process.communicate(timeout=60)[1]
