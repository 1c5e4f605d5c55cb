"""Stage 4, monitor: read captured data, plot it, baseline it, and check it for drift."""
