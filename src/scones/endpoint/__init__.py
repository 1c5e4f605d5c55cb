"""Stage 2b, endpoint: the real-time inference server with data capture, and its registry."""
