"""Stage 2a, model: the network, the training job, and the model artifact."""
