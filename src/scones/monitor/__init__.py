"""Stage 4, monitor: read captured data, plot it, baseline it, and check it for drift.

    make_baseline(settings, store, BaselineRequest(...))   reference statistics + constraints
    run_monitor(settings, store, RunRequest(...))          one monitoring execution (checks, report)
    plot_capture(settings, store, RunRequest(...), out)    just the pictures of a window
    iter_records(store, location, since, until)            stream captured records, tolerant
    read_window(store, location, spec, since, until)       a window summarised with bounded memory
    image_features(images)                                 per-image features, vectorised
    evaluate(baseline, window, embeddings)                 every check of a window
    executions(settings) / schedule(every, run_once)       monitoring executions, periodic runs

Names resolve lazily (PEP 562) so importing this package loads neither SciPy nor Matplotlib.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "BaselineRequest": "scones.monitor.service",
    "CapturedRecord": "scones.monitor.captured",
    "MonitorConfig": "scones.monitor.constraints",
    "RunRequest": "scones.monitor.service",
    "RunResult": "scones.monitor.service",
    "WindowSpec": "scones.monitor.reading",
    "evaluate": "scones.monitor.drift",
    "executions": "scones.monitor.runs",
    "image_features": "scones.monitor.features",
    "iter_records": "scones.monitor.captured",
    "make_baseline": "scones.monitor.service",
    "plot_capture": "scones.monitor.service",
    "read_window": "scones.monitor.reading",
    "run_monitor": "scones.monitor.service",
    "schedule": "scones.monitor.runs",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'scones.monitor' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
