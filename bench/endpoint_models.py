"""The endpoint's speed with each given model: which model `scones train` makes matters to serving.

    .venv/bin/python bench/endpoint_models.py MODEL.tar.gz [MODEL.tar.gz ...] [--seconds 4]

Each model is deployed as `scones deploy` does it (its own server process, capture at 100%),
then loaded by stage 2b's keep-alive load generator (bench/endpoint_bench.py) at concurrency
1, 8 and 64. Speed does not depend on the weights: a model trained for one epoch
(`scones train -p epochs=1 [-p architecture=resnet]`) serves as fast as a finished one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # endpoint_bench: the load generator


def main() -> None:
    import endpoint_bench
    from scones.config import load_settings
    from scones.endpoint import registry
    from scones.endpoint.server import endpoint_config
    from scones.storage import Store

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    for model in args.models:
        settings = load_settings(home=Path(tempfile.mkdtemp(prefix="scones-bench-")))
        Store(settings).put(settings.bucket, "models/bench/model.tar.gz", model.read_bytes())
        config = endpoint_config(settings, name=settings.endpoint_name, port=0, capture_percent=100)
        record = registry.deploy(settings, config, f"s3://{settings.bucket}/models/bench/model.tar.gz")
        try:
            port = urlsplit(record.url).port or 80
            for concurrency in (1, 8, 64):
                r = endpoint_bench.load_once(port, concurrency, args.seconds, dict(os.environ))
                print(
                    f"{model} c={concurrency}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
                    f"p99 {r['p99_ms']:.1f} ms, errors {r['errors']}",
                    flush=True,
                )
        finally:
            registry.delete(settings, settings.endpoint_name)


if __name__ == "__main__":
    main()
