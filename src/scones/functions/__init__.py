"""Stage 3, functions: the three Lambda handlers (serialize, classify, filter)."""
