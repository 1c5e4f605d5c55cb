"""Local AWS benchmark (issue #16): `scones up` side by side with moto's server, in one run.

Both servers run as their own processes on loopback, each over a fresh home/bucket:
  - S3 GetObject of one ~2.5 KB staged PNG at concurrency 16: one presigned path-style GET sent over 16
    keep-alive connections by a raw-socket asyncio client in its own process (so the client is not the
    bottleneck): requests/s and p50/p99 (target: scones >= 2x moto);
  - `aws s3 sync` of the staged PNGs (AWS CLI v1 on PATH) into each, --rounds times alternating which
    server goes first, files pre-read: wall time and the server's CPU (target: no slower than moto);
  - scones only: Invoke of a trivial Python function through the Lambda API: the cold start (first
    call after CreateFunction), then warm p50 over keep-alive HTTP and through boto3, against calling
    the same handler in-process (target: warm p50 within 3 ms of in-process);
  - scones only: a console-style three-Lambda EXPRESS state machine (the seed's serialize and filter
    functions, a stand-in classifier) through StartSyncExecution from 8 keep-alive connections, then
    through StartExecution (the server runs them in the background) until none is RUNNING; with the
    server's CPU per execution, Lambda workers included (target: >= 100 executions/s).

    .venv/bin/python bench/local_aws_bench.py [--pngs ../shared/data/bike-moto] [--seconds 10] [--rounds 4] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

REPO = Path(__file__).resolve().parent.parent
DUMMY = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1"}
PNGS = REPO.parent / "shared" / "data" / "bike-moto"


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (Linux /proc): the server's Lambda workers too."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(name: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = dict(os.environ, SCONES_HOME=str(home), PYTHONPATH=str(REPO / "src"))
    if name == "scones":
        cmd = [sys.executable, "-m", "scones.cli", "up", "--port", str(port)]
    else:
        cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit(f"{name} did not start on {url}")


async def _client(port: int, request: bytes, stop: float, warm: float, out: list[tuple[float, bool]]) -> None:
    """One connection sending the same signed GET, kept alive unless the server closes it (moto does,
    and then each request pays a new connection, as an SDK's pool would). Raw sockets keep the client cheap."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    while (started := time.perf_counter()) < stop:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length, close = 0, False
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
            close = close or line.lower().replace(b" ", b"") == b"connection:close"
        await reader.readexactly(length)
        if started >= warm:
            out.append((time.perf_counter() - started, head[9:12] == b"200"))
        if close:
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()


async def _get_load(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    parts = httpx.URL(url)
    target = parts.raw_path.decode()
    request = f"GET {target} HTTP/1.1\r\nhost: 127.0.0.1:{parts.port}\r\nuser-agent: bench\r\n\r\n".encode()
    warm = time.perf_counter() + 1.0
    stop = warm + seconds
    out: list[tuple[float, bool]] = []
    clients = asyncio.gather(*(_client(int(parts.port or 80), request, stop, warm, out) for _ in range(concurrency)))
    await asyncio.wait_for(clients, timeout=seconds + 30)  # a stalled server must not stall the benchmark
    latencies = sorted(t for t, _ in out)
    return {
        "requests_per_s": round(len(out) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "requests": len(out),
        "errors": sum(1 for _, ok in out if not ok),
    }


def _run_load(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    """The load generator in its own process (uvloop when present), so it does not share the bench's GIL."""
    done = subprocess.run(
        [sys.executable, __file__, "--load", url, "--concurrency", str(concurrency), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _sync(url: str, pngs: Path, prefix: str, pid: int) -> dict[str, float]:
    """One `aws s3 sync` into a fresh prefix: wall seconds, and the CPU seconds of the server and of the CLI."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(DUMMY, AWS_ENDPOINT_URL=url)
    cpu, children = _cpu_seconds(pid), os.times()
    start = time.perf_counter()
    command = ["aws", "s3", "sync", "--only-show-errors", str(pngs), f"s3://sync/{prefix}"]
    subprocess.run(command, env=env, check=True)
    wall = time.perf_counter() - start
    after = os.times()
    cli = after.children_user + after.children_system - children.children_user - children.children_system
    return {"wall_s": round(wall, 2), "server_cpu_s": round(_cpu_seconds(pid) - cpu, 2), "cli_cpu_s": round(cli, 2)}


TRIVIAL = "def lambda_handler(event, context):\n    return {'ok': event.get('n', 0)}\n"


def _lambda(url: str, calls: int) -> dict[str, Any]:
    import http.client
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("lambda_function.py", TRIVIAL)
    kw: dict[str, Any] = {"endpoint_url": url, "region_name": "us-east-1"}
    kw.update(aws_access_key_id=DUMMY["AWS_ACCESS_KEY_ID"], aws_secret_access_key=DUMMY["AWS_SECRET_ACCESS_KEY"])
    lam = boto3.client("lambda", **kw)
    lam.create_function(
        FunctionName="trivial",
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="lambda_function.lambda_handler",
        Code={"ZipFile": buffer.getvalue()},
    )
    start = time.perf_counter()
    first = lam.invoke(FunctionName="trivial", Payload=b'{"n": 1}', LogType="Tail")
    cold_ms = (time.perf_counter() - start) * 1000
    log = __import__("base64").b64decode(first["LogResult"]).decode()
    init = float(log.split("Init Duration: ")[1].split(" ms")[0])
    connection = http.client.HTTPConnection("127.0.0.1", int(url.rsplit(":", 1)[1]))
    raw: list[float] = []
    for _ in range(calls):
        began = time.perf_counter()
        connection.request("POST", "/2015-03-31/functions/trivial/invocations", body=b'{"n": 2}')
        connection.getresponse().read()
        raw.append(time.perf_counter() - began)
    via_boto3: list[float] = []
    for _ in range(calls):
        began = time.perf_counter()
        lam.invoke(FunctionName="trivial", Payload=b'{"n": 3}')["Payload"].read()
        via_boto3.append(time.perf_counter() - began)
    namespace: dict[str, Any] = {}
    exec(compile(TRIVIAL, "lambda_function.py", "exec"), namespace)  # noqa: S102 - our own fixed source
    local: list[float] = []
    for _ in range(calls):
        began = time.perf_counter()
        json.dumps(namespace["lambda_handler"](json.loads(b'{"n": 4}'), None))
        local.append(time.perf_counter() - began)
    return {
        "cold_invoke_ms": round(cold_ms, 1),
        "cold_init_duration_ms": init,
        "warm_http_p50_ms": round(statistics.median(raw) * 1000, 3),
        "warm_boto3_p50_ms": round(statistics.median(via_boto3) * 1000, 3),
        "in_process_p50_ms": round(statistics.median(local) * 1000, 4),
        "calls": calls,
    }


SERIALIZE = """
import boto3, base64
s3 = boto3.client('s3')
def lambda_handler(event, context):
    key, bucket = event['s3_key'], event['s3_bucket']
    s3.download_file(bucket, key, "/tmp/image.png")
    with open("/tmp/image.png", "rb") as f:
        image_data = base64.b64encode(f.read()).decode()
    return {'statusCode': 200, 'body': {"image_data": image_data, "s3_bucket": bucket, "s3_key": key, "inferences": []}}
"""
CLASSIFY = """
def lambda_handler(event, context):
    event['body']['inferences'] = [0.97, 0.03]
    return {'statusCode': 200, 'body': event['body']}
"""
FILTER = """
def lambda_handler(event, context):
    if max(event['body']['inferences']) <= .93:
        raise Exception("THRESHOLD_CONFIDENCE_NOT_MET")
    return {'statusCode': 200, 'body': event['body']}
"""


def _express(url: str, png: Path, total: int, connections: int, pid: int) -> dict[str, Any]:
    import http.client
    import io
    import zipfile
    from concurrent.futures import ThreadPoolExecutor

    kw: dict[str, Any] = {"endpoint_url": url, "region_name": "us-east-1"}
    kw.update(aws_access_key_id=DUMMY["AWS_ACCESS_KEY_ID"], aws_secret_access_key=DUMMY["AWS_SECRET_ACCESS_KEY"])
    s3, lam = boto3.client("s3", **kw), boto3.client("lambda", **kw)
    s3.create_bucket(Bucket="pipeline")
    s3.put_object(Bucket="pipeline", Key="test/bicycle.png", Body=png.read_bytes())
    states: dict[str, Any] = {}
    for name, source, after in (
        ("serializeImageData", SERIALIZE, "classifyImage"),
        ("classifyImage", CLASSIFY, "filterInferences"),
        ("filterInferences", FILTER, None),
    ):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("lambda_function.py", source)
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role="arn:aws:iam::000000000000:role/r",
            Handler="lambda_function.lambda_handler",
            Code={"ZipFile": buffer.getvalue()},
        )
        state: dict[str, Any] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "OutputPath": "$.Payload",
            "Parameters": {"Payload.$": "$", "FunctionName": f"arn:aws:lambda:us-east-1:000000000000:function:{name}"},
        }
        state.update({"Next": after} if after else {"End": True})
        states[name] = state
    sfn = boto3.client("stepfunctions", **kw)
    definition = json.dumps({"StartAt": "serializeImageData", "States": states})
    arn = sfn.create_state_machine(
        name="pipeline", definition=definition, roleArn="arn:aws:iam::0:role/r", type="EXPRESS"
    )["stateMachineArn"]
    body = json.dumps(
        {"stateMachineArn": arn, "input": json.dumps({"s3_bucket": "pipeline", "s3_key": "test/bicycle.png"})}
    )
    headers = {"X-Amz-Target": "AWSStepFunctions.StartSyncExecution", "Content-Type": "application/x-amz-json-1.0"}
    port = int(url.rsplit(":", 1)[1])

    def worker(count: int) -> list[str]:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        statuses = []
        for _ in range(count):
            connection.request("POST", "/", body=body, headers=headers)
            statuses.append(json.loads(connection.getresponse().read())["status"])
        return statuses

    with ThreadPoolExecutor(connections) as pool:  # warm: start an execution environment per connection
        list(pool.map(worker, [2] * connections))
    start = time.perf_counter()
    one = worker(20)
    sequential_ms = (time.perf_counter() - start) / len(one) * 1000
    start, cpu = time.perf_counter(), _cpu_seconds(pid)
    with ThreadPoolExecutor(connections) as pool:
        statuses = [s for batch in pool.map(worker, [total // connections] * connections) for s in batch]
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds(pid) - cpu
    sync = {
        "executions": len(statuses),
        "succeeded": statuses.count("SUCCEEDED"),
        "executions_per_s": round(len(statuses) / elapsed, 1),
        "server_cpu_ms_per_execution": round(cpu / len(statuses) * 1000, 2),
        "one_connection_ms_per_execution": round(sequential_ms, 1),
        "connections": connections,
    }
    return {"start_sync_execution": sync, "start_execution": _express_async(sfn, arn, port, body, total, pid)}


def _express_async(sfn: Any, arn: str, port: int, sync_body: str, total: int, pid: int) -> dict[str, Any]:
    """StartExecution (answers at once; the server runs the execution) `total` times over one keep-alive
    connection, then wait until none is RUNNING: executions/s from the first start to the last end."""
    import http.client

    headers = {"X-Amz-Target": "AWSStepFunctions.StartExecution", "Content-Type": "application/x-amz-json-1.0"}
    connection = http.client.HTTPConnection("127.0.0.1", port)
    start, cpu = time.perf_counter(), _cpu_seconds(pid)
    for _ in range(total):
        connection.request("POST", "/", body=sync_body, headers=headers)
        connection.getresponse().read()
    while sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1)["executions"]:
        time.sleep(0.02)
    elapsed, cpu = time.perf_counter() - start, _cpu_seconds(pid) - cpu
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=arn, statusFilter="SUCCEEDED")
    succeeded = sum(len(page["executions"]) for page in pages)
    return {
        "executions": total,
        "succeeded_in_all_runs": succeeded,
        "executions_per_s": round(total / elapsed, 1),
        "server_cpu_ms_per_execution": round(cpu / total * 1000, 2),
    }


def bench(pngs: Path, seconds: float, concurrency: int, rounds: int) -> dict[str, Any]:
    png = sorted(pngs.rglob("*.png"))[0]
    count = sum(1 for _ in pngs.rglob("*.png"))
    results: dict[str, Any] = {"png_bytes": png.stat().st_size, "pngs_synced": count, "concurrency": concurrency}
    for path in pngs.rglob("*"):  # into the page cache before either server syncs them
        if path.is_file():
            path.read_bytes()
    with tempfile.TemporaryDirectory(prefix="scones-localaws-bench-") as tmp:
        servers = {name: _start(name, Path(tmp) / name) for name in ("scones", "moto")}
        try:
            for name, (_, url) in servers.items():
                s3 = boto3.client(
                    "s3",
                    endpoint_url=url,
                    region_name="us-east-1",
                    aws_access_key_id=DUMMY["AWS_ACCESS_KEY_ID"],
                    aws_secret_access_key=DUMMY["AWS_SECRET_ACCESS_KEY"],
                )
                s3.create_bucket(Bucket="bench")
                s3.create_bucket(Bucket="sync")
                s3.put_object(Bucket="bench", Key="test/image.png", Body=png.read_bytes(), ContentType="image/png")
                # a presigned URL: a signed request both servers accept, sent unchanged by the load client
                signed = s3.generate_presigned_url("get_object", Params={"Bucket": "bench", "Key": "test/image.png"})
                results[name] = {"get_object": _run_load(signed, concurrency, seconds), "syncs": []}
            # Syncs alternate between the servers, each round in the other order, each into a fresh prefix.
            for round_ in range(rounds):
                order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
                for name in order:
                    process, url = servers[name]
                    results[name]["syncs"].append(_sync(url, pngs, f"round{round_}", process.pid))
            process, url = servers["scones"]
            results["scones"]["lambda"] = _lambda(url, 300)
            results["scones"]["express"] = _express(url, png, 400, 8, process.pid)
        finally:
            for process, _ in servers.values():
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
    scones, moto = results["scones"], results["moto"]
    results["get_ratio"] = round(scones["get_object"]["requests_per_s"] / moto["get_object"]["requests_per_s"], 2)
    for name in ("scones", "moto"):
        walls = [s["wall_s"] for s in results[name]["syncs"]]
        results[name]["sync_median_s"] = round(statistics.median(walls), 2)
        results[name]["sync_range_s"] = [min(walls), max(walls)]
        results[name]["sync_server_cpu_median_s"] = statistics.median(s["server_cpu_s"] for s in results[name]["syncs"])
    ratios = [m["wall_s"] / s["wall_s"] for s, m in zip(scones["syncs"], moto["syncs"], strict=True)]
    results["sync_ratio_moto_over_scones"] = {
        "median": round(statistics.median(ratios), 2),
        "per_round": [round(r, 2) for r in ratios],
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pngs", type=Path, default=PNGS, help="a folder of staged PNGs")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each GetObject load run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=4, help="aws s3 sync rounds per server, alternating")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # internal: run the load client against this URL
    args = parser.parse_args()
    if args.load:
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        print(json.dumps(asyncio.run(_get_load(args.load, args.concurrency, args.seconds))))
        return
    if not any(args.pngs.rglob("*.png")):
        parser.error(f"no PNGs under {args.pngs}; stage some with 'scones stage' or pass --pngs")
    results = bench(args.pngs, args.seconds, args.concurrency, args.rounds)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name in ("scones", "moto"):
        get = results[name]["get_object"]
        print(
            f"{name:7s} GetObject c={args.concurrency}: {get['requests_per_s']:8.1f} req/s, p50 {get['p50_ms']} ms, "
            f"p99 {get['p99_ms']} ms, errors {get['errors']}; aws s3 sync of {results['pngs_synced']} PNGs: "
            f"median {results[name]['sync_median_s']} s {results[name]['sync_range_s']}, "
            f"server CPU {results[name]['sync_server_cpu_median_s']} s"
        )
    print("scones  Lambda:", json.dumps(results["scones"]["lambda"]))
    print("scones  EXPRESS pipeline:", json.dumps(results["scones"]["express"]))
    print(
        f"GetObject scones/moto: {results['get_ratio']}x; "
        f"sync moto/scones time: {json.dumps(results['sync_ratio_moto_over_scones'])}"
    )


if __name__ == "__main__":
    main()
