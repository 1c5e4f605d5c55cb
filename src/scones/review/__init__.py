"""Stage 5, review: low-confidence (and sampled) captured answers become a queue that people
label; the labels are written as SageMaker Model Monitor ground truth."""
