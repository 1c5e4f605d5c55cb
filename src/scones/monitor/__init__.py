"""Stage 4, monitor: read captured data, plot it, baseline it, and check it for drift.

    service.make_baseline(settings, store, BaselineRequest(...))   reference statistics + constraints
    service.run_monitor(settings, store, RunRequest(...))          one monitoring execution (checks, report)
    service.plot_capture(settings, store, RunRequest(...), out)    just the pictures of a window
    captured.iter_records(store, location, since, until)           stream captured records, tolerant
    reading.read_window(store, location, spec, since, until)       a window summarised with bounded memory
    features.image_features(images)                                per-image features, vectorised
    drift.evaluate(baseline, window, embeddings)                   every check of a window
    runs.executions(settings) / runs.schedule(every, run_once)     monitoring executions, periodic runs

This package imports nothing, so importing it loads neither SciPy nor Matplotlib.
"""
