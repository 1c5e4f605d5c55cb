"""The Ray Serve peer: `@serve.batch`, as Ray Serve's docs advise for a small model on CPU.

    python ray_server.py PORT

Configuration:
- Batching (https://docs.ray.io/en/latest/serve/advanced-guides/dyn-req-batch.html):
  `@serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)` on an async method that takes
  the list of request bodies; `max_ongoing_requests=64` per replica, because the guide says a
  replica only batches what it is allowed to hold ("set max_ongoing_requests ≥ max_batch_size").
- Replicas (https://docs.ray.io/en/latest/serve/configure-serve-deployment.html and
  .../serve/resource-allocation.html): `num_replicas=2` with `ray_actor_options={"num_cpus": 1}`,
  one replica per core; one ORT intra-op thread per replica.
- Loopback only: `ray.init(_node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2)`
  (the Python form of `ray start --node-ip-address 127.0.0.1`,
  https://docs.ray.io/en/latest/cluster/cli.html) so Ray's own services register on loopback,
  and the HTTP proxy on `serve.start(http_options={"host": "127.0.0.1", "port": PORT})`
  (https://docs.ray.io/en/latest/serve/api/doc/ray.serve.config.HTTPOptions.html).
The request body is the raw PNG (a Serve deployment gets the Starlette request); the decode is
the shared one, done in the replica on the whole batch.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import ray
from ray import serve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Model  # noqa: E402 - the shared decode, next to this file


@serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 1}, max_ongoing_requests=64)
class Classifier:
    def __init__(self, spec: str) -> None:
        self.model = Model(spec, threads=1)

    @serve.batch(max_batch_size=64, batch_wait_timeout_s=0.005)
    async def classify(self, bodies: list[bytes]) -> list[list[float]]:
        probabilities = self.model.predict([self.model.decode(body) for body in bodies])
        return [row.tolist() for row in probabilities]

    async def __call__(self, request: Any) -> list[float]:
        return await self.classify(await request.body())


def main() -> None:
    port = int(sys.argv[1])
    # The replicas are Ray worker processes that do not inherit this module's sys.path: ship this folder.
    ray.init(
        _node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2,
        runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).resolve().parent)}},
    )  # fmt: skip
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    serve.run(Classifier.bind(os.environ["PEERS_SPEC"]), route_prefix="/invocations")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    while not stopped.wait(1):
        pass
    ray.shutdown()  # stops the local cluster (GCS, raylet) and with it the Serve actors


if __name__ == "__main__":
    main()
