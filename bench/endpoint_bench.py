"""Stage 2b benchmark: the scones endpoint against its in-process ceiling and a typical baseline.

    .venv/bin/python bench/endpoint_bench.py [--seconds 8] [--concurrency 1,8,64]

What runs (each server in its own process, load from a separate process, all on this machine):
- ceiling: PNG decode + preprocess + ONNX Runtime in batches of 64, no HTTP, same model, both
  cores busy: one process per core (1 ORT thread each) and one process with ORT on every core;
  the better of the two is the ceiling, the most any server could do here.
- scones: `scones serve` (uvicorn, dynamic batching, ORT) with capture off and at 100 %.
- baseline: what a typical user writes: Starlette + PyTorch eager, one request at a time
  (the model runs inside the async handler), same weights, uvicorn defaults.
The load generator is a small asyncio HTTP/1.1 client with keep-alive connections (one per
concurrent client), cheaper per request than httpx so it steals less CPU from the server.
The model is the default one `scones train` makes (airbench, width 32; `--model` serves a trained
model.tar.gz, otherwise random weights of the same net: speed does not depend on them), exported
to ONNX as training exports it; the PyTorch baseline runs the same net.
Images: the real 32x32 PNGs in ../shared/data/bike-moto.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO.parent / "shared" / "data" / "bike-moto" / "train"
CLASSES = ["bicycle", "motorcycle"]


# -- model and images ------------------------------------------------------------------------------
def default_net() -> Any:
    """The NetConfig `scones train` builds from the default hyperparameters."""
    from scones.model.hyperparameters import Hyperparameters
    from scones.model.net import NetConfig

    hp = Hyperparameters()
    return NetConfig(num_layers=hp.num_layers, width=hp.channels, num_classes=2, architecture=hp.architecture,
                     members=hp.ensemble)  # fmt: skip


def build_model(workdir: Path) -> tuple[Path, Path]:
    """model.tar.gz (ONNX) and weights.pt (the same net for the PyTorch baseline)."""
    import torch

    from scones.model.artifact import Artifact, Manifest, Preprocessing, sha256
    from scones.model.net import Exported, build

    net = build(default_net(), seed=0).eval()
    weights = workdir / "weights.pt"
    torch.save(net.state_dict(), weights)
    exported = Exported(net).eval()
    buffer = io.BytesIO()
    torch.onnx.export(
        exported, (torch.zeros(1, 3, 32, 32),), buffer, input_names=["input"],
        output_names=["probabilities", "embedding"], dynamic_axes={"input": {0: "N"}}, dynamo=False,
    )  # fmt: skip
    onnx_bytes = buffer.getvalue()
    manifest = Manifest(
        classes=CLASSES, preprocessing=Preprocessing(), embedding_dim=default_net().embedding_dim,
        training_job="bench-default",
        model_sha256=sha256(onnx_bytes),
    )  # fmt: skip
    model = workdir / "model.tar.gz"
    model.write_bytes(Artifact(manifest, onnx_bytes).pack())
    return model, weights


def load_images(limit: int = 1000) -> list[bytes]:
    if IMAGES.is_dir():
        return [p.read_bytes() for p in sorted(IMAGES.glob("*.png"))[:limit]]
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for _ in range(200):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


# -- the ceiling -------------------------------------------------------------------------------------
CEILING_BATCH = 64


def ceiling_worker(model: str, seconds: float, threads: int) -> None:
    """One process of the ceiling: decode + preprocess + ORT at batch 64; prints images/s."""
    from scones.endpoint.predictor import Predictor
    from scones.model.artifact import load
    from scones.model.preprocess import decode

    images = load_images()
    predictor = Predictor(load(model), threads=threads)
    predictor.predict_images(np.stack([decode(b) for b in images[:CEILING_BATCH]]))  # warm-up
    done, start, i = 0, time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        batch = [images[(i + k) % len(images)] for k in range(CEILING_BATCH)]
        i += CEILING_BATCH
        predictor.predict_images(np.stack([decode(b) for b in batch]))
        done += CEILING_BATCH
    print(done / (time.perf_counter() - start))


def ceiling(model: Path, seconds: float, env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """Images/s at batch 64 on every core: one process per core, and one process using all cores."""
    cores = len(os.sched_getaffinity(0))
    command = [sys.executable, __file__, "ceiling-worker", "--model", str(model), "--seconds", str(seconds)]
    workers = [subprocess.Popen([*command, "--threads", "1"], stdout=subprocess.PIPE, env=env) for _ in range(cores)]
    per_core = sum(float(w.communicate()[0]) for w in workers)
    shared = float(subprocess.run([*command, "--threads", "0"], check=True, capture_output=True, env=env).stdout)
    by_layout = {f"{cores} processes x 1 thread": per_core, f"1 process x {cores} threads": shared}
    return max(by_layout.values()), by_layout


def capture_cost(images: list[bytes], workdir: Path, count: int = 5000) -> tuple[float, float]:
    """Microseconds per record: on the request path (offer) and in the writer (encode + write)."""
    from scones.config import load_settings
    from scones.endpoint.capture import CaptureConfig, CaptureWriter
    from scones.storage import Store

    store = Store(load_settings(home=workdir / "capture-cost"))
    writer = CaptureWriter(store, CaptureConfig(percent=100, max_queue_records=count + 1), "bench")
    writer.flush()  # the writer thread is idle from here
    started = time.perf_counter()
    for i in range(count):
        writer.offer(images[i % len(images)], "image/png", "[0.25, 0.75]", "application/json")
    offered = time.perf_counter()
    writer.flush()
    drained = time.perf_counter()
    writer.close()
    return (offered - started) / count * 1e6, (drained - offered) / count * 1e6


# -- the baseline server (Starlette + PyTorch eager, one request at a time) -------------------------
def baseline_app(weights: str, threads: int) -> Any:
    import torch
    from PIL import Image
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from scones.model.artifact import CIFAR_MEAN, CIFAR_STD
    from scones.model.net import Exported, build

    if threads:
        torch.set_num_threads(threads)
    net = build(default_net(), seed=0)
    net.load_state_dict(torch.load(weights, weights_only=True))
    model = Exported(net).eval()
    mean = torch.tensor(CIFAR_MEAN).view(3, 1, 1)
    std = torch.tensor(CIFAR_STD).view(3, 1, 1)

    async def ping(request: Request) -> Response:
        return Response()

    async def invocations(request: Request) -> JSONResponse:
        image = Image.open(io.BytesIO(await request.body())).convert("RGB").resize((32, 32))
        x = torch.from_numpy(np.asarray(image)).permute(2, 0, 1).float().div(255)
        with torch.no_grad():
            probabilities, _ = model(((x - mean) / std).unsqueeze(0))
        return JSONResponse(probabilities[0].tolist())

    return Starlette(routes=[Route("/ping", ping), Route("/invocations", invocations, methods=["POST"])])


def run_baseline_server(weights: str, port: int, threads: int) -> None:
    import uvicorn

    uvicorn.run(baseline_app(weights, threads), host="127.0.0.1", port=port, log_level="warning")


# -- the load generator ------------------------------------------------------------------------------
async def _client(port: int, requests: list[bytes], offset: int, stop: float, warm: float, out: list[Any]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    while (started := time.perf_counter()) < stop:
        writer.write(requests[i % len(requests)])
        i += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        if started >= warm:
            out.append((time.perf_counter() - started, head[9:12] == b"200"))
    writer.close()


async def _load(port: int, path: str, images: list[bytes], concurrency: int, seconds: float) -> dict[str, Any]:
    requests = [
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: image/png\r\naccept: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
        for body in images
    ]
    warm = time.perf_counter() + 0.5
    stop = warm + seconds
    out: list[tuple[float, bool]] = []
    step = max(1, len(images) // concurrency)
    clients = [_client(port, requests, k * step, stop, warm, out) for k in range(concurrency)]
    try:  # a server that takes seconds per request must not stall the whole benchmark
        await asyncio.wait_for(asyncio.gather(*clients), timeout=seconds + 20)
    except TimeoutError:
        pass
    latencies = np.array([t for t, _ in out] or [float("nan")])
    errors = sum(1 for _, ok in out if not ok)
    return {
        "concurrency": concurrency, "requests": len(out), "errors": errors, "rps": len(out) / seconds,
        "p50_ms": float(np.percentile(latencies, 50) * 1000), "p99_ms": float(np.percentile(latencies, 99) * 1000),
    }  # fmt: skip


def run_load(port: int, path: str, concurrency: int, seconds: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(_load(port, path, load_images(), concurrency, seconds))))


# -- orchestration ------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit("server did not become ready")


def load_once(port: int, concurrency: int, seconds: float, env: dict[str, str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "load", "--port", str(port), "--concurrency", str(concurrency)]
    command += ["--seconds", str(seconds)]
    return dict(json.loads(subprocess.run(command, check=True, capture_output=True, env=env).stdout))


def combine(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median over rounds: the machine is shared, so one unlucky round should not decide."""
    return {
        "concurrency": runs[0]["concurrency"],
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "rps": float(np.median([r["rps"] for r in runs])),
        "p50_ms": float(np.median([r["p50_ms"] for r in runs])),
        "p99_ms": float(np.median([r["p99_ms"] for r in runs])),
        "rounds_rps": [round(r["rps"], 1) for r in runs],
    }


def main_run(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="scones-bench-"))
    try:
        run_all(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)  # the model, weights and captured records


def run_all(args: argparse.Namespace, workdir: Path) -> None:
    from scones.config import environ_with

    levels = [int(c) for c in args.concurrency.split(",")]
    env = environ_with(SCONES_HOME=str(workdir / "home"), PYTHONPATH=str(REPO / "src"))
    model, weights = build_model(workdir)
    if args.model:
        model = args.model.resolve()  # the trained default model; the baseline keeps random weights
    images = load_images()
    print(f"cores: {len(os.sched_getaffinity(0))}, images: {len(images)} real PNGs from {IMAGES}", flush=True)
    offer_us, writer_us = capture_cost(images, workdir)
    print(f"capture cost in process: {offer_us:.1f} us per record on the request path, "
          f"{writer_us:.1f} us in the writer thread (base64 + JSON + write)", flush=True)  # fmt: skip
    scones = [sys.executable, "-c", "from scones.cli import main; main()", "serve", "--model", str(model)]
    baseline = [sys.executable, __file__, "baseline-server", "--weights", str(weights)]
    configs: dict[str, list[str]] = {
        "scones capture off": scones,
        "scones capture 100%": [*scones, "--capture-percent", "100"],
        "scones 2 workers x 1 thread": [*scones, "--workers", "2", "--threads", "1"],
        # PyTorch's default (one OpenMP thread per core) collapses when other processes share
        # the cores; one thread is what a user would try next. The faster baseline counts.
        "baseline torch default threads": [*baseline, "--threads", "0"],
        "baseline torch 1 thread": [*baseline, "--threads", "1"],
    }
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {label: {c: [] for c in levels} for label in configs}
    ceilings: list[float] = []
    try:
        for label, command in configs.items():  # all up at once, so rounds can interleave
            port = free_port()
            process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)  # fmt: skip
            servers[label] = (port, process)
        for port, process in servers.values():
            wait_ready(port, process)
        for round_number in range(args.rounds):
            best, by_layout = ceiling(model, args.seconds, env)
            ceilings.append(best)
            layouts = ", ".join(f"{layout}: {rate:.0f}" for layout, rate in by_layout.items())
            print(f"round {round_number + 1}: ceiling {best:.1f} images/s at batch 64 ({layouts})", flush=True)
            for label, (port, _) in servers.items():
                for concurrency in levels:
                    result = load_once(port, concurrency, args.seconds, env)
                    runs[label][concurrency].append(result)
                    print(f"  {label:32} c={concurrency:<3} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:7.2f} ms"
                          f"  p99 {result['p99_ms']:7.2f} ms  errors {result['errors']}", flush=True)  # fmt: skip
    finally:
        for _, process in servers.values():
            process.terminate()
        for _, process in servers.values():
            process.wait(60)
    report: dict[str, Any] = {"ceiling": float(np.median(ceilings)), "ceiling_rounds": ceilings}
    report["capture_us_per_record"] = {"request_path": offer_us, "writer": writer_us}
    for label in configs:
        report[label] = [combine(runs[label][c]) for c in levels]
    summarise(report, levels)


def summarise(report: dict[str, Any], levels: list[int]) -> None:
    top = max(levels)
    print(f"\nmedians over rounds (ceiling {report['ceiling']:.0f} images/s)")
    for label, rows in report.items():
        if isinstance(rows, list) and rows and isinstance(rows[0], dict):
            cells = "  ".join(
                f"c={r['concurrency']}: {r['rps']:.0f} req/s p50 {r['p50_ms']:.1f} p99 {r['p99_ms']:.1f} ms"
                for r in rows
            )
            print(f"  {label:32} {cells}")
    off = {r["concurrency"]: r for r in report["scones capture off"]}
    on = {r["concurrency"]: r for r in report["scones capture 100%"]}
    baselines = [report["baseline torch default threads"], report["baseline torch 1 thread"]]
    best = max(baselines, key=lambda rows: max(r["rps"] for r in rows))
    base = {r["concurrency"]: r for r in best}
    print("summary")
    print(f"  c={top}: {off[top]['rps']:.0f} req/s = {off[top]['rps'] / report['ceiling']:.0%} of ceiling, "
          f"{off[top]['rps'] / base[top]['rps']:.1f}x the better baseline ({base[top]['rps']:.0f} req/s)")  # fmt: skip
    if 8 in off:
        print(f"  c=8 p99: {off[8]['p99_ms']:.1f} ms (capture off), {on[8]['p99_ms']:.1f} ms (capture 100%)")
    print(f"  capture 100% cost at c={top}: {1 - on[top]['rps'] / off[top]['rps']:.1%} of throughput")
    # Round by round (each round measures everything back to back): median and range, never the best.
    ratio = [o / c for o, c in zip(off[top]["rounds_rps"], report["ceiling_rounds"], strict=True)]
    speedup = [o / b for o, b in zip(off[top]["rounds_rps"], base[top]["rounds_rps"], strict=True)]
    cost = [1 - n / o for n, o in zip(on[top]["rounds_rps"], off[top]["rounds_rps"], strict=True)]
    for name, values in (("of ceiling", ratio), ("x baseline", speedup), ("capture cost", cost)):
        print(
            f"  per round, c={top} {name}: median {np.median(values):.2f}, range {min(values):.2f}-{max(values):.2f}"
            f" ({', '.join(f'{v:.2f}' for v in values)})"
        )
    if 1 in off:
        print(f"  c=1: scones p50 {off[1]['p50_ms']:.2f} ms vs baseline {base[1]['p50_ms']:.2f} ms")
    print(json.dumps(report))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run")
    for p in (parser, run):
        p.add_argument("--seconds", type=float, default=4.0)
        p.add_argument("--rounds", type=int, default=3)
        p.add_argument("--concurrency", default="1,8,64")
        p.add_argument("--model", type=Path, default=None, help="a trained model.tar.gz (default: random weights)")
    worker = sub.add_parser("ceiling-worker")
    worker.add_argument("--model", required=True)
    worker.add_argument("--seconds", type=float, required=True)
    worker.add_argument("--threads", type=int, required=True)
    base = sub.add_parser("baseline-server")
    base.add_argument("--weights", required=True)
    base.add_argument("--port", type=int, required=True)
    base.add_argument("--threads", type=int, default=0)
    load = sub.add_parser("load")
    load.add_argument("--port", type=int, required=True)
    load.add_argument("--path", default="/invocations")
    load.add_argument("--concurrency", type=int, required=True)
    load.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    if args.command == "baseline-server":
        run_baseline_server(args.weights, args.port, args.threads)
    elif args.command == "ceiling-worker":
        ceiling_worker(args.model, args.seconds, args.threads)
    elif args.command == "load":
        run_load(args.port, args.path, args.concurrency, args.seconds)
    else:
        main_run(args)


if __name__ == "__main__":
    main()
