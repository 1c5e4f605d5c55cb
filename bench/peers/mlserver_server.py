"""The MLServer peer: adaptive batching and a custom runtime on ONNX Runtime, as MLServer's docs advise.

    python mlserver_server.py PORT        (writes the settings files, then runs `mlserver start`)

Configuration:
- Custom runtime (https://mlserver.readthedocs.io/en/latest/runtimes/custom.html): `Classifier`
  below, an `MLModel` whose `load` opens the ONNX session (one ORT intra-op thread) and whose
  `predict` decodes the batch's PNGs with the shared decode and runs it in one call.
- Adaptive batching (https://mlserver.readthedocs.io/en/latest/user-guide/adaptive-batching.html):
  `max_batch_size=64`, `max_batch_time=0.005` s in model-settings.json.
- Parallel inference (https://mlserver.readthedocs.io/en/latest/user-guide/parallel-inference.html):
  `parallel_workers=2` in settings.json, one inference process per core; the HTTP front end is
  MLServer's one process.
- Loopback only: `host="127.0.0.1"` for REST and gRPC (settings.json), the separate metrics
  server off (`metrics_endpoint=null`).
MLServer speaks the V2 inference protocol (JSON), not raw bodies: each request carries the same
PNG base64-encoded as one `BYTES` element (`content_type: base64`), the protocol's way to send
binary data (https://mlserver.readthedocs.io/en/latest/user-guide/content-type.html).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import sys
from pathlib import Path

import numpy as np
from mlserver import MLModel
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Model  # noqa: E402 - the shared decode, next to this file


class Classifier(MLModel):
    async def load(self) -> bool:
        self.model = Model(threads=1)
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        pngs = [base64.b64decode(item) for item in payload.inputs[0].data]  # one per batched request
        probabilities = np.asarray(self.model.predict([self.model.decode(png) for png in pngs]))
        output = ResponseOutput(
            name="probabilities", shape=list(probabilities.shape), datatype="FP32", data=probabilities.ravel().tolist()
        )
        return InferenceResponse(model_name=self.name, outputs=[output])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    port = int(sys.argv[1])
    folder = Path(os.environ["PEERS_SPEC"]).parent / "mlserver"  # run.py's work folder, removed after the run
    folder.mkdir(exist_ok=True)
    (folder / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": free_port(), "metrics_endpoint": None,
        "parallel_workers": 2, "debug": False,
    }))  # fmt: skip
    (folder / "model-settings.json").write_text(json.dumps({
        "name": "classifier", "implementation": "mlserver_server.Classifier",
        "max_batch_size": 64, "max_batch_time": 0.005,
    }))  # fmt: skip
    here = str(Path(__file__).resolve().parent)
    os.environ["PYTHONPATH"] = here + os.pathsep + os.environ.get("PYTHONPATH", "")
    mlserver = str(Path(sys.executable).parent / "mlserver")
    os.execv(mlserver, [mlserver, "start", str(folder)])  # noqa: S606 - our own venv's mlserver, fixed arguments


if __name__ == "__main__":
    main()
