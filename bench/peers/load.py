"""One load generator for every server: keep-alive HTTP/1.1 clients on asyncio, one per concurrent client.

    python load.py --port P --path /invocations --body png|json-b64|v2-json|multipart --concurrency C --seconds S

The same request loop as stage 2b's (bench/endpoint_bench.py); the body is the raw PNG
(`image/png`) or, for a peer that does not read raw bodies, the same PNG as
`{"image": "<base64>"}` (`json-b64`), as one base64 `BYTES` element of a V2 inference request
(`v2-json`), or as the one file of form field `images` (`multipart`).
Prints one JSON line: requests, errors, rps, p50_ms, p99_ms (after a 0.5 s warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import endpoint_bench  # noqa: E402 - the images stage 2b sends

BOUNDARY = "scones-peers-boundary"


def encode(image: bytes, body: str) -> tuple[bytes, str]:
    """The request body and its content type: the raw PNG, base64 in JSON, or one file of a form."""
    if body == "png":
        return image, "image/png"
    if body == "json-b64":
        return json.dumps({"image": base64.b64encode(image).decode()}).encode(), "application/json"
    if body == "v2-json":  # the V2 inference protocol: one BYTES element, base64 (MLServer)
        tensor = {"name": "image", "shape": [1], "datatype": "BYTES", "parameters": {"content_type": "base64"},
                  "data": [base64.b64encode(image).decode()]}  # fmt: skip
        return json.dumps({"inputs": [tensor]}).encode(), "application/json"
    part = (
        f'--{BOUNDARY}\r\ncontent-disposition: form-data; name="images"; filename="image.png"\r\n'
        "content-type: image/png\r\n\r\n"
    )
    return part.encode() + image + f"\r\n--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}"


def requests(path: str, body: str) -> list[bytes]:
    out = []
    for image in endpoint_bench.load_images():
        payload, kind = encode(image, body)
        head = (
            f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: {kind}\r\naccept: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n"
        )
        out.append(head.encode() + payload)
    return out


async def client(
    port: int, wire: list[bytes], offset: int, stop: float, warm: float, out: list[Any], cpu: list[float]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    while (started := time.perf_counter()) < stop:
        writer.write(wire[i % len(wire)])
        i += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length, chunked = 0, False
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
            elif line.lower() == b"transfer-encoding: chunked":
                chunked = True
        if chunked:  # a server that streams its answer: read chunks to the last one
            while (size := int((await reader.readuntil(b"\r\n"))[:-2], 16)) > 0:
                await reader.readexactly(size + 2)
            await reader.readuntil(b"\r\n")
        else:
            await reader.readexactly(length)
        if started >= warm:
            if not out:  # the first measured answer: the client's CPU from here on is the window's
                cpu.append(time.process_time())
            out.append((time.perf_counter() - started, head[9:12] == b"200"))
    writer.close()


async def load(port: int, path: str, body: str, concurrency: int, seconds: float) -> dict[str, Any]:
    wire = requests(path, body)
    warm = time.perf_counter() + 0.5
    stop = warm + seconds
    out: list[tuple[float, bool]] = []
    cpu: list[float] = []
    step = max(1, len(wire) // concurrency)
    clients = [client(port, wire, k * step, stop, warm, out, cpu) for k in range(concurrency)]
    try:  # a server that stalls must not stall the whole comparison
        await asyncio.wait_for(asyncio.gather(*clients), timeout=seconds + 30)
    except TimeoutError:
        pass
    latencies = np.array([t for t, _ in out] or [float("nan")])
    return {
        "requests": len(out),
        "errors": sum(1 for _, ok in out if not ok),
        "rps": len(out) / seconds,
        "p50_ms": float(np.percentile(latencies, 50) * 1000),
        "p99_ms": float(np.percentile(latencies, 99) * 1000),
        # The client shares the machine's cores with the server: what it spends, the server cannot.
        "client_cpu_s_per_1000": (time.process_time() - cpu[0]) / max(1, len(out)) * 1000 if cpu else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/invocations")
    parser.add_argument("--body", choices=("png", "json-b64", "v2-json", "multipart"), default="png")
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(load(args.port, args.path, args.body, args.concurrency, args.seconds))))


if __name__ == "__main__":
    main()
