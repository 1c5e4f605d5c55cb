"""Starlette's TestClient, imported without its one warning.

Starlette 1.x warns at import that it would rather drive `httpx2`; the pinned stack has
httpx, which works the same for these tests, so exactly that warning is silenced here.
"""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="Using `httpx` with `starlette.testclient`", category=StarletteDeprecationWarning
    )
    from starlette.testclient import TestClient

__all__ = ["LOCAL", "TestClient"]

LOCAL = "http://127.0.0.1"  # the console answers only Host names it is served under (console/guard.py)
