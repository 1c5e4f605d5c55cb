"""Stage 2a, model: the network, the training job, and the model artifact."""

from __future__ import annotations

import os

# OpenMP worker threads that spin while they wait make torch ~20x slower when other processes
# share the cores (measured: 3.2 s vs 0.15 s per step on a loaded 2-core machine); passive
# waiting costs almost nothing when the cores are free. libgomp reads this once, when torch
# loads, so it is set here, before any module of this stage imports torch. An explicit
# setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
