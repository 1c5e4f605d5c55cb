"""scones' endpoint against the serving peers, side by side, on the same ONNX model (issue #22).

    python bench/peers/run.py [--model model.tar.gz] [--rounds 3] [--seconds 8] [--quick] [--json]

- The model: `--model`, or a fresh `scones train -p epochs=1` (the default architecture;
  serving speed does not depend on the weights).
- Each peer runs in its own venv, which this script creates on first use under `--venvs`
  (pip from PyPI): onnxruntime, numpy, pillow and the peer itself; never scones' dependencies.
  Each peer's configuration and the documentation it follows are in its server file's docstring
  (`bench/peers/*_server.py`); `docs/benchmarks.md` ("Peers") has them in a table.
- Every server is up at once, bound to 127.0.0.1; before any load, each must answer one image
  with the probabilities scones gives (same decode, same model).
- One load generator (`bench/peers/load.py`, its own process) at concurrency 1, 8 and 64;
  each round measures the ceiling, then every server at every concurrency in turn, so the
  servers alternate; each round starts one server later than the one before. Reported: the
  median over rounds of req/s, p50 and p99, the server process tree's CPU seconds per
  1,000 requests, and the load generator's own (it shares the cores; the ceiling does not).
- scones serves with capture at 100% (the peers capture nothing), twice: with its defaults
  (`scones`) and as two worker processes of one ORT thread each (`scones-2w`), the layout the
  batching peers use on two cores.
- The ceiling: PNG decode + ONNX Runtime at batch 64 in two processes (one per core), no HTTP.
With `--json` the last line printed is one JSON object:
`{"ceiling": req_s, "servers": {"scones": {"c1": {"rps", "p50_ms", "p99_ms", "cpu_s_per_1000",
"client_cpu_s_per_1000"}, ...}, ...}, "goals": {...}}`.
`--quick` is one round of 5 s per point.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path[:0] = [str(HERE), str(HERE.parent)]
import endpoint_bench  # noqa: E402 - stage 2b's images and free_port

LEVELS = (1, 8, 64)
BASE = ["onnxruntime", "numpy", "pillow"]
# name -> (pip packages, request path, body kind); the command that starts each is in `command`.
PEERS: dict[str, tuple[list[str], str, str]] = {
    "fastapi": (["fastapi", "uvicorn[standard]"], "/invocations", "png"),
    "litserve": (["litserve"], "/predict", "json-b64"),
    "bentoml": (["bentoml"], "/invocations", "multipart"),
    "ray": (["ray[serve]"], "/invocations", "png"),
    # uvloop 0.22 made MLServer 1.7's inference workers fail at start (no current event loop)
    "mlserver": (["mlserver", "uvloop<0.22"], "/v2/models/classifier/infer", "v2-json"),
}
# scones twice: its defaults, and two worker processes of one ORT thread each (the peers' layout)
SCONES = {"scones": [], "scones-2w": ["--workers", "2", "--threads", "1"]}


def ensure_venv(root: Path, name: str) -> Path:
    """The peer's own venv (created and filled once); returns its python."""
    venv = root / name
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        print(f"creating the {name} venv in {venv} (pip install {' '.join(PEERS[name][0] + BASE)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[name][0], *BASE], check=True)
        (venv / ".ready").touch()
    return python


def default_model(workdir: Path) -> Path:
    """A real `scones train` artifact: one epoch of the default architecture."""
    from scones.config import environ_with

    home = workdir / "train-home"
    env = environ_with(SCONES_HOME=str(home), PYTHONPATH=str(REPO / "src"))
    scones = [sys.executable, "-c", "from scones.cli import main; main()"]
    source = REPO.parent / "shared" / "data" / "cifar-100-python-bike-moto-dev.tar.gz"
    print("training a one-epoch model (scones stage + scones train -p epochs=1)", flush=True)
    subprocess.run([*scones, "stage", "--source", str(source)], env=env, check=True, capture_output=True)
    subprocess.run([*scones, "train", "-p", "epochs=1"], env=env, check=True, capture_output=True)
    found = sorted(home.rglob("model.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise SystemExit("scones train wrote no model.tar.gz; pass --model")
    return found[-1]


def write_spec(model: Path, workdir: Path) -> Path:
    """The ONNX file and how to feed it, for the peers (which cannot import scones)."""
    from scones.model.artifact import load

    artifact = load(str(model))
    onnx = workdir / "model.onnx"
    onnx.write_bytes(artifact.onnx)
    pre = artifact.manifest.preprocessing
    spec = workdir / "spec.json"
    spec.write_text(json.dumps({
        "onnx": str(onnx), "input_name": artifact.manifest.input_name, "output_name": artifact.manifest.output_name,
        "height": pre.image_shape[1], "width": pre.image_shape[2], "mean": list(pre.mean), "std": list(pre.std),
    }))  # fmt: skip
    return spec


def command(name: str, python: Path, port: int, model: Path) -> list[str]:
    if name in SCONES:
        serve = [sys.executable, "-c", "from scones.cli import main; main()", "serve", "--model", str(model)]
        return [*serve, "--port", str(port), "--capture-percent", "100", *SCONES[name]]
    if name == "bentoml":
        return [str(python.parent / "bentoml"), "serve", "bentoml_server:Classifier", "--working-dir", str(HERE),
                "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    if name == "fastapi":
        return [str(python), "-m", "uvicorn", "fastapi_server:app", "--app-dir", str(HERE), "--host", "127.0.0.1",
                "--port", str(port), "--workers", "2", "--no-access-log", "--log-level", "warning"]  # fmt: skip
    return [str(python), str(HERE / f"{name}_server.py"), str(port)]


def ask(port: int, path: str, body: str, image: bytes, timeout: float = 5) -> list[float]:
    """One request; the probabilities it answers."""
    from load import encode  # bench/peers/load.py, beside this file

    data, kind = encode(image, body)
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers={"content-type": kind})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - loopback only
        answer = json.loads(response.read())
    if isinstance(answer, dict) and "outputs" in answer:  # a V2 inference response (MLServer)
        answer = answer["outputs"][0]["data"]
    return [float(v) for v in np.ravel(answer)]


def wait_ready(
    name: str, port: int, path: str, body: str, process: subprocess.Popen[bytes], image: bytes
) -> list[float]:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with {process.returncode} before answering")
        try:
            return ask(port, path, body, image)
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"{name} did not answer within 180 s")


def _processes() -> tuple[dict[int, int], dict[int, float]]:
    """Every process's parent and user + system CPU seconds, from /proc."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    return parents, times


def tree(root: int, parents: dict[int, int]) -> list[int]:
    """A process and all its descendants."""
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        found.append(pid)
        frontier += [child for child, parent in parents.items() if parent == pid]
    return found


def tree_cpu_seconds(root: int) -> float:
    """user + system CPU seconds of a process and all its descendants, from /proc."""
    parents, times = _processes()
    return sum(times.get(pid, 0.0) for pid in tree(root, parents))


def load_once(port: int, path: str, body: str, concurrency: int, seconds: float) -> dict[str, Any]:
    command_line = [sys.executable, str(HERE / "load.py"), "--port", str(port), "--path", path, "--body", body,
                    "--concurrency", str(concurrency), "--seconds", str(seconds)]  # fmt: skip
    return dict(json.loads(subprocess.run(command_line, check=True, capture_output=True).stdout))


def _ceiling_worker(model: str, images: list[bytes], seconds: float) -> float:
    from scones.endpoint.predictor import Predictor
    from scones.model.artifact import load
    from scones.model.preprocess import decode

    predictor = Predictor(load(model), threads=1)
    done, i, started = 0, 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        batch = [images[(i + k) % len(images)] for k in range(64)]
        i += 64
        predictor.predict_images(np.stack([decode(b) for b in batch]))
        done += 64
    return done / (time.perf_counter() - started)


def ceiling(model: Path, images: list[bytes], seconds: float) -> float:
    """Images/s: decode + ORT at batch 64, one process per core, no HTTP."""
    cores = len(os.sched_getaffinity(0))
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        return float(sum(pool.starmap(_ceiling_worker, [(str(model), images, seconds)] * cores)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="model.tar.gz (default: train one epoch)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0, help="per point")
    parser.add_argument("--quick", action="store_true", help="one round, 5 s per point")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object, last")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated, of {', '.join(PEERS)}")
    parser.add_argument("--venvs", type=Path, default=Path(tempfile.gettempdir()) / "scones-peers-venvs")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds = 1, 5.0
    peers = [p for p in args.peers.split(",") if p]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        raise SystemExit(f"unknown peer {unknown[0]!r}; choose from {', '.join(PEERS)}")
    workdir = Path(tempfile.mkdtemp(prefix="scones-peers-"))
    try:
        report = compare(args, peers, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(report))


def compare(args: argparse.Namespace, peers: list[str], workdir: Path) -> dict[str, Any]:
    from scones.config import environ_with

    model = args.model or default_model(workdir)
    pythons = {name: ensure_venv(args.venvs, name) for name in peers}
    spec = write_spec(model, workdir)
    env = environ_with(SCONES_HOME=str(workdir / "home"), PYTHONPATH=str(REPO / "src"), PEERS_SPEC=str(spec))
    images = endpoint_bench.load_images()
    routes = {**{name: ("/invocations", "png") for name in SCONES}, **{name: PEERS[name][1:] for name in peers}}
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {name: {c: [] for c in LEVELS} for name in routes}
    ceilings: list[float] = []
    try:
        for name in routes:  # all up at once, so the rounds alternate between them
            port = endpoint_bench.free_port()
            process = subprocess.Popen(command(name, pythons.get(name, Path(sys.executable)), port, model), env=env,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)  # fmt: skip
            servers[name] = (port, process)
        answers = {
            name: wait_ready(name, port, *routes[name], process, images[0]) for name, (port, process) in servers.items()
        }
        for name, answer in answers.items():
            if not np.allclose(answer, answers["scones"], atol=1e-4):
                raise SystemExit(f"{name} answers {answer}, scones {answers['scones']}: not the same model and decode")
        for number in range(args.rounds):
            ceilings.append(ceiling(model, images, args.seconds))
            print(f"round {number + 1}: ceiling {ceilings[-1]:.0f} images/s", flush=True)
            order = list(servers)  # each round starts one server later, so none is always first after the ceiling
            order = order[number % len(order) :] + order[: number % len(order)]
            for name in order:
                port, process = servers[name]
                for concurrency in LEVELS:
                    before = tree_cpu_seconds(process.pid)
                    result = load_once(port, *routes[name], concurrency, args.seconds)
                    cpu = tree_cpu_seconds(process.pid) - before
                    result["cpu_s_per_1000"] = cpu / max(1, result["requests"]) * 1000
                    runs[name][concurrency].append(result)
                    print(f"  {name:9} c={concurrency:<3} {result['rps']:7.0f} req/s  p50 {result['p50_ms']:7.2f} ms  "
                          f"p99 {result['p99_ms']:7.2f} ms  cpu {result['cpu_s_per_1000']:5.2f} s/1000  "
                          f"client {result['client_cpu_s_per_1000']:5.2f} s/1000  "
                          f"errors {result['errors']}", flush=True)  # fmt: skip
    finally:
        stop(servers.values())
    return summarise(ceilings, runs)


def stop(servers: Any) -> None:
    """Stop each server with its whole process group, then whatever of its tree is left.

    Peers fork workers that outlive a lone SIGTERM, and Ray starts its actors in their own groups.
    """
    parents, _ = _processes()
    trees = {process.pid: tree(process.pid, parents) for _, process in servers}
    for _, process in servers:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    for _, process in servers:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        for pid in trees[process.pid][1:]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def summarise(ceilings: list[float], runs: dict[str, dict[int, list[dict[str, Any]]]]) -> dict[str, Any]:
    servers: dict[str, Any] = {}
    for name, by_level in runs.items():
        servers[name] = {
            f"c{c}": {
                key: round(float(np.median([r[key] for r in rounds])), 2)
                for key in ("rps", "p50_ms", "p99_ms", "cpu_s_per_1000", "client_cpu_s_per_1000")
            }
            | {"rounds_rps": [round(r["rps"], 1) for r in rounds], "errors": sum(r["errors"] for r in rounds)}
            for c, rounds in by_level.items()
        }
    report = {"ceiling": round(float(np.median(ceilings)), 1), "ceiling_rounds": [round(c, 1) for c in ceilings]}
    report["servers"] = servers
    peers = [name for name in servers if name not in SCONES]
    if peers:
        best = max(peers, key=lambda name: servers[name]["c64"]["rps"])
        best_p99 = min(peers, key=lambda name: servers[name]["c8"]["p99_ms"])
        report["goals"] = {}
        for name in SCONES:
            ours = servers[name]
            report["goals"][name] = goals = {
                "c64_vs_best_peer": round(ours["c64"]["rps"] / servers[best]["c64"]["rps"], 2),
                "best_peer_c64": best,
                "c8_p99_ms": ours["c8"]["p99_ms"],
                "best_peer_c8_p99_ms": servers[best_p99]["c8"]["p99_ms"],
                "best_peer_c8_p99": best_p99,
                "c64_of_ceiling": round(ours["c64"]["rps"] / report["ceiling"], 2),
                # CPUs the server and the load generator used at c=64, of the cores the ceiling had to itself
                "c64_server_cpus": round(ours["c64"]["rps"] * ours["c64"]["cpu_s_per_1000"] / 1000, 2),
                "c64_client_cpus": round(ours["c64"]["rps"] * ours["c64"]["client_cpu_s_per_1000"] / 1000, 2),
            }
            print(f"{name} c=64: {goals['c64_vs_best_peer']}x the best peer ({best}), "
                  f"{goals['c64_of_ceiling']:.0%} of the ceiling (server {goals['c64_server_cpus']} CPUs, "
                  f"load generator {goals['c64_client_cpus']}); c=8 p99 {goals['c8_p99_ms']} ms "
                  f"against {goals['best_peer_c8_p99_ms']} ms ({best_p99})", flush=True)  # fmt: skip
    return report


if __name__ == "__main__":
    main()
