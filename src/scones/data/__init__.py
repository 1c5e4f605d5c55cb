"""Stage 1, data: fetch CIFAR-100, keep the chosen classes, stage PNGs + .lst files in a bucket."""
