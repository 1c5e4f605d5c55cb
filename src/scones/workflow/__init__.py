"""Stage 3, workflow: the state machine (ASL), its local engine, and executions."""
