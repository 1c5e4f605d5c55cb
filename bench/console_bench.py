"""Console page render times over a big home: 10,000 executions and 100,000 captured records.

Builds a scones home in a temporary folder: the tiny model deployed as a real endpoint with
capture, three real executions of the seed's state machine (one succeeds, one fails at the
threshold, one more), then copies of those: 5,000 STANDARD executions (history in the state
database) and 5,000 EXPRESS ones (history in the state machine's log), and 100,000 captured
records cloned from real captured lines (real dev images when ../shared/data is here) in
SageMaker's key layout, 1,000 records a file over 100 hours. Then it indexes once (timed),
starts `scones console` as its own process and times every page over HTTP from this process
(one keep-alive connection, as a browser tab): `--repeat` requests per page after one warm-up,
so the p95 is a real one (100 samples: the 95th).

    .venv/bin/python bench/console_bench.py [--executions 10000] [--records 100000] [--repeat 100]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
BIKE_MOTO = REPO.parent / "shared" / "data" / "bike-moto"
TOKEN = "bench-token"  # noqa: S105 - a throwaway token for the bench's own endpoint


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def build(home: Path, executions: int, records: int) -> dict[str, Any]:
    os.environ["SCONES_HOME"] = str(home)
    os.environ["SCONES_AUTH_TOKEN"] = TOKEN
    from tests.console.conftest import COLOURS
    from tests.helpers import png_bytes, tiny_artifact

    from scones.config import load_settings
    from scones.endpoint import registry
    from scones.endpoint.service import EndpointConfig
    from scones.storage import Store

    settings = load_settings()
    store = Store(settings)
    for name, colour in COLOURS.items():
        store.put(settings.bucket, f"data/test/{name}", png_bytes(colour))
    store.put(settings.bucket, "models/tiny/output/model.tar.gz", tiny_artifact().pack())
    config = EndpointConfig(
        name=settings.endpoint_name, port=0, capture_percent=100.0, auth_token=TOKEN,
        capture_destination=f"s3://{settings.bucket}/data_capture",
    )  # fmt: skip
    registry.deploy(settings, config, f"s3://{settings.bucket}/models/tiny/output/model.tar.gz")
    try:
        return _fill(settings, store, executions, records)
    except BaseException:
        registry.delete(settings, settings.endpoint_name)
        raise


def _fill(settings: Any, store: Any, executions: int, records: int) -> dict[str, Any]:
    from tests.console.conftest import COLOURS
    from tests.helpers import png_bytes

    from scones.workflow import executions as runner, machines, records as rec

    machines.create(settings, "pipeline", machines.pipeline_definition())
    real = [
        runner.start(
            settings,
            "pipeline",
            {"image_data": "", "s3_bucket": settings.bucket, "s3_key": f"data/test/{n}"},
            type_="EXPRESS",
        )  # fmt: skip
        for n in COLOURS
    ]
    templates = [(r, rec.history(settings, r)) for r in real]
    # Copies of the real executions: half STANDARD (history rows), half EXPRESS (log lines).
    start = datetime.now(UTC) - timedelta(days=7)
    conn = rec.connect(settings)
    log_lines: list[str] = []
    conn.execute("BEGIN")
    for i in range(executions - len(real)):
        record, events = templates[i % len(templates)]
        type_ = "STANDARD" if i % 2 == 0 else "EXPRESS"
        name = f"bench-{i:06d}"
        arn = runner.execution_arn(settings, "pipeline", name, type_)
        began = start + timedelta(seconds=60 * i)
        conn.execute(
            "INSERT INTO executions (arn, name, state_machine, type, status, input, output, error, cause, started,"
            " stopped, duration_ms) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (arn, name, "pipeline", type_, record.status, record.input, record.output, record.error, record.cause,
             _iso(began), _iso(began + timedelta(milliseconds=12)), 12.0),
        )  # fmt: skip
        if type_ == "STANDARD":
            conn.executemany(
                "INSERT INTO execution_history VALUES (?,?,?)", [(arn, e["id"], json.dumps(e)) for e in events]
            )
        else:
            log_lines += [json.dumps({"executionArn": arn, "event": e}, separators=(",", ":")) + "\n" for e in events]
    conn.execute("COMMIT")
    log = rec.log_path(settings, "pipeline")
    with log.open("a", encoding="utf-8") as handle:
        handle.writelines(log_lines)
    time.sleep(6)  # the endpoint rolls its capture file after 5 s
    captured = [o for o in store.list(settings.bucket, "data_capture/")]
    template = json.loads(store.get(settings.bucket, captured[0].key).splitlines()[0])
    images = _images(png_bytes)
    prefix = f"data_capture/{settings.endpoint_name}/AllTraffic"
    per_file = 1000
    for f in range(records // per_file):
        hour = start + timedelta(hours=f)
        lines = []
        for j in range(per_file):
            n = f * per_file + j
            p = (n * 7919 % 1000) / 1000  # a spread of confidences, some under the threshold
            template["captureData"]["endpointInput"]["data"] = images[n % len(images)]
            template["captureData"]["endpointOutput"]["data"] = json.dumps([p, 1 - p])
            template["eventMetadata"] = {
                "eventId": str(uuid.uuid4()),
                "inferenceTime": _iso(hour + timedelta(seconds=3 * j)),
            }
            lines.append(json.dumps(template, separators=(",", ":")))
        key = f"{prefix}/{hour:%Y/%m/%d/%H}/00-00-000-{uuid.uuid4()}.jsonl"
        store.put(settings.bucket, key, ("\n".join(lines) + "\n").encode())
    return {"settings": settings, "standard": real[0].arn, "express_arn": arn}


def _images(png_bytes: object) -> list[str]:
    files = sorted(BIKE_MOTO.glob("train/*.png"))[:200] if BIKE_MOTO.is_dir() else []
    if files:
        return [base64.b64encode(f.read_bytes()).decode() for f in files]
    return [base64.b64encode(png_bytes((i * 37 % 255, i * 91 % 255, i * 13 % 255))).decode() for i in range(200)]  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=10_000)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--keep", metavar="DIR", help="build the home in DIR and keep it (endpoint stopped)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        home = Path(args.keep or tmp) / "home"
        t0 = time.perf_counter()
        built = build(home, args.executions, args.records)
        took = time.perf_counter() - t0
        print(f"built the home in {took:.1f} s ({args.executions:,} executions, {args.records:,} captured records)")
        try:
            measure(built, args.repeat)
        finally:
            from scones.endpoint import registry

            registry.delete(built["settings"], built["settings"].endpoint_name)


def measure(built: dict[str, Any], repeat: int) -> None:
    import subprocess

    import httpx
    import numpy as np
    from tests.conftest import free_port

    from scones.console import create_app
    from scones.console.sources import express_log
    from scones.workflow import records as rec

    settings: Any = built["settings"]
    app = create_app(settings, TOKEN, background_index=False)  # indexes in-process first; the server reuses it
    index = app.state.capture_index
    t0 = time.perf_counter()
    while index.refresh(wait=True) or index.pending_files():
        pass
    took = time.perf_counter() - t0
    indexed = index.conn().execute("SELECT count(*) FROM console_captured").fetchone()[0]
    print(f"first index of captured data: {took:.2f} s for {indexed:,} records")
    t0 = time.perf_counter()
    lines = express_log.refresh(app.state.db, rec.log_path(settings, "pipeline"))
    print(f"first index of the EXPRESS log: {time.perf_counter() - t0:.2f} s for {lines:,} events")
    run = index.conn().execute("SELECT max(id) FROM console_captured").fetchone()[0]
    pages = {
        "overview": "/",
        "training jobs": "/training-jobs",
        "models": "/models",
        "endpoints": "/endpoints",
        "endpoint (live /metrics)": f"/endpoints/{settings.endpoint_name}",
        "state machines": "/state-machines",
        "state machine": "/state-machines/pipeline",
        "executions": "/executions",
        "executions FAILED": "/executions?status=FAILED",
        "executions page 150": "/executions?page=150",
        "execution STANDARD": f"/executions/{built['standard']}",
        "execution EXPRESS (log)": f"/executions/{built['express_arn']}",
        "captured": "/captured",
        "captured low confidence": "/captured?low=1",
        "captured class+low+time": "/captured?class=motorcycle&low=1&since=2020-01-01T00:00",
        "captured page 1500": "/captured?page=1500",
        "captured image": f"/captured/{run}/image",
        "monitoring": "/monitoring",
    }
    headers = {"Authorization": f"Bearer {TOKEN}"}
    worst = 0.0
    port = free_port()
    environ = {**os.environ, "SCONES_HOME": str(settings.home), "PYTHONPATH": str(REPO / "src")}
    command = [sys.executable, "-m", "scones.cli", "console", "--port", str(port), "--auth-token", TOKEN]
    server = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.get("/healthz")
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    print(f"\n{'page':32} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}  (over HTTP, n={repeat} each, after 1 warm-up)")
    try:
        for label, path in pages.items():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.text[:300])
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                response = client.get(path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                assert response.status_code == 200
            p95 = float(np.percentile(times, 95))
            worst = max(worst, p95)
            print(f"{label:32} {statistics.median(times):10.1f} {p95:8.1f} {max(times):8.1f}", flush=True)
    finally:
        client.close()
        server.terminate()
        server.wait(10)
    print(f"\nworst p95: {worst:.1f} ms (target <= 200 ms): {'met' if worst <= 200 else 'MISSED'}")


if __name__ == "__main__":
    main()
