"""Stage 1, data: fetch CIFAR-100, keep the chosen classes, stage PNGs + .lst files in a bucket.

Entry points: `stage.stage` (archive or image folder -> bucket) and, for later stages,
`dataset.read_split` and `dataset.read_manifest` (bucket -> arrays). Import them from their
modules; this package imports nothing, so `import scones.data` stays light.
"""
