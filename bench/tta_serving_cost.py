"""Stage-2a/2b: what test-time augmentation costs when serving, side by side in one process.

Exports the default net (airbench, width 32, random weights: speed does not depend on them) three
ways, as `scones train` would with `test_time_flip` / `test_time_shift`: no views (1 forward
pass), the mirror average (2, the default) and mirror + 1-pixel shifts (6). Each graph runs in
ONNX Runtime on one thread at batch 1 and batch 64; rounds interleave the three graphs so they
see the same machine load, and the medians over rounds are printed with their ratio to the
default. Only the model is timed (no HTTP, no PNG decoding): the endpoint adds the same to each.

    .venv/bin/python bench/tta_serving_cost.py [--rounds 7] [--seconds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

from scones.model.export import export_net
from scones.model.net import NetConfig, build

VIEWS = {"none (1 pass)": (False, False), "mirror (2, default)": (True, False), "mirror + shifts (6)": (True, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0, help="per graph, batch size and round")
    args = parser.parse_args()
    import onnxruntime as ort

    net = build(NetConfig(width=32, architecture="airbench"), seed=0).eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    sessions = {
        label: ort.InferenceSession(export_net(net, 1.0, flip, shift), options, providers=["CPUExecutionProvider"])
        for label, (flip, shift) in VIEWS.items()
    }
    rng = np.random.default_rng(0)
    batches = {size: rng.standard_normal((size, 3, 32, 32)).astype(np.float32) for size in (1, 64)}
    per_image: dict[tuple[str, int], list[float]] = {(label, size): [] for label in VIEWS for size in batches}
    for _ in range(args.rounds):
        for size, x in batches.items():
            for label, session in sessions.items():
                session.run(None, {session.get_inputs()[0].name: x})  # warm
                count, started = 0, time.perf_counter()
                while time.perf_counter() - started < args.seconds:
                    session.run(None, {session.get_inputs()[0].name: x})
                    count += size
                per_image[(label, size)].append((time.perf_counter() - started) / count * 1000)
    result = {
        "load_average_1m": round(os.getloadavg()[0], 2),
        "ms_per_image_median": {
            f"{label}, batch {size}": round(statistics.median(v), 3) for (label, size), v in per_image.items()
        },
        "ratio_to_default": {
            f"{label}, batch {size}": round(
                statistics.median(v) / statistics.median(per_image[("mirror (2, default)", size)]), 2
            )
            for (label, size), v in per_image.items()
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
