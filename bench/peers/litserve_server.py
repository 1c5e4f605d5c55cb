"""The LitServe peer: batching, as LitServe's docs advise for a small model on CPU.

    python litserve_server.py PORT

Configuration (https://lightning.ai/docs/litserve/features/batching, and LitServer's own
docstring for `workers_per_device` and `accelerator`):
`max_batch_size=64`, `batch_timeout=0.005` s, `accelerator="cpu"`, `workers_per_device=2`
(one inference worker per core), one ORT intra-op thread per worker, one API server.
LitServe decodes a request body as JSON (or a form), not raw bytes, so its requests carry the
same PNG base64-encoded in `{"image": ...}`, as its image examples do.
"""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import litserve as ls

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Model  # noqa: E402 - the shared decode, next to this file


class Classifier(ls.LitAPI):
    def setup(self, device: Any) -> None:
        self.model = Model(threads=1)

    def decode_request(self, request) -> Any:  # type: ignore[no-untyped-def]  # noqa: ANN001 - unannotated: LitServe then hands over the parsed JSON
        return self.model.decode(base64.b64decode(request["image"]))

    def batch(self, inputs: list[Any]) -> list[Any]:
        return inputs

    def predict(self, x: list[Any]) -> Any:
        return self.model.predict(x)

    def unbatch(self, output: Any) -> list[Any]:
        return list(output)

    def encode_response(self, output: Any) -> Any:
        return output.tolist()


if __name__ == "__main__":
    api = Classifier(max_batch_size=64, batch_timeout=0.005)
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=2)
    server.run(host="127.0.0.1", port=int(sys.argv[1]), generate_client_file=False)
