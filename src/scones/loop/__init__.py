"""Stage 6, loop: reviewed images become a new dataset version, a retrained candidate, a
comparison with the current model and, when it is better, a guarded rollout."""
