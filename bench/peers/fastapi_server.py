"""The plain peer: FastAPI + ONNX Runtime, one image per call, the same decode as scones.

    uvicorn fastapi_server:app --host 127.0.0.1 --port P --workers 2 --no-access-log

Configuration (following FastAPI's "Server Workers" page, https://fastapi.tiangolo.com/deployment/server-workers/,
and ONNX Runtime's threading guidance, https://onnxruntime.ai/docs/performance/tune-performance/threading.html):
two uvicorn worker processes (one per core), one ORT intra-op thread each, the model called
inside the async handler (no thread-pool hop, no batching).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Model  # noqa: E402 - the shared decode, next to this file

app = FastAPI()
model = Model(threads=1)


@app.post("/invocations")
async def invocations(request: Request) -> JSONResponse:
    probabilities = model.predict([model.decode(await request.body())])
    return JSONResponse(probabilities[0].tolist())
