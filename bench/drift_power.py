"""Drift detection power: scones' monitor against alibi-detect and Evidently on the same windows.

    PYTHONPATH=src .venv/bin/python bench/drift_power.py --model PATH/model.tar.gz [--quick] [--json]

The CIFAR-10-C family of shifts (Hendrycks & Dietterich's parameters for 32x32 images, in
NumPy/Pillow/SciPy here) at severities 1-5, plus grayscale, rotation and other objects, is
applied to the dev archive's training images; the model (a real `scones train`, ONNX) computes
softmax outputs and penultimate-layer embeddings once, and every detector sees those same
numbers on the same windows:

- each trial draws a fresh random split of the 900 training images: `--reference` (400) form
  the baseline, a window of 50/100/200/500 comes from the other images (never in the
  baseline); a shifted window applies the shift to its images;
- scones: the real `scones.monitor.drift.evaluate` (every check at its defaults, alpha 0.003
  per run); drift = any violation;
- peers, in their own venv (`--venv`, default $TMPDIR/scones-drift-venv, created by this
  script; never scones' dependencies): alibi-detect MMDDrift on embeddings (PyTorch backend),
  alibi-detect KSDrift on the softmax
  ("black-box shift detection", Failing Loudly's best), Evidently's embedding drift (its
  default domain-classifier method). Each peer is reported twice, per window size: "(docs)" at
  the threshold its documentation gives, and at equal false alarms: calibrated on the same
  same-distribution windows to raise no more of them than scones did there (nor over 1%).

Windows: `--nulls` same-distribution windows per size, `--windows` per (shift, severity, size)
cell and `--windows-s3` at severity 3; `--peers-only`, `--no-peers` and `--reuse` split a run
into the peers' process, scones' loop and the report of both on the same windows.

It prints detection rates per shift, severity, window size and detector, the false-alarm rates,
time per run, and the smallest window catching severity 3 in 90% of windows. `--json` prints
one JSON object last.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SCRATCH = REPO / "bench" / "results"
ARCHIVE = REPO.parent / "shared" / "data" / "cifar-100-python-bike-moto-dev.tar.gz"
SIZES = (50, 100, 200, 500)
SEVERITIES = (1, 2, 3, 4, 5)
PEER_PACKAGES = ("torch==2.13.0", "alibi-detect==0.13.0", "evidently==0.7.23")
THRESHOLD = 0.93  # the seed's confidence filter: the low-confidence check counts answers below it

# --- shifts: float images in [0, 1], (N, 32, 32, 3) -------------------------------------------

Shift = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _hsv(x: np.ndarray, change: Callable[[np.ndarray], None]) -> np.ndarray:
    from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

    hsv = rgb_to_hsv(x)
    change(hsv)
    return np.asarray(hsv_to_rgb(np.clip(hsv, 0, 1)))


def brightness(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.05, 0.1, 0.15, 0.2, 0.3)[s - 1]
    return _hsv(x, lambda h: h.__setitem__((..., 2), h[..., 2] + c))


def contrast(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.75, 0.5, 0.4, 0.3, 0.15)[s - 1]
    means = x.mean(axis=(1, 2), keepdims=True)
    return (x - means) * c + means


def saturation(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    a, b = ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2))[s - 1]
    return _hsv(x, lambda h: h.__setitem__((..., 1), h[..., 1] * a + b))


def gaussian_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0, (0.04, 0.06, 0.08, 0.09, 0.10)[s - 1], x.shape)


def shot_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    c = (500, 250, 100, 75, 50)[s - 1]
    return rng.poisson(x * c) / c


def impulse_noise(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[s - 1]
    out = x.copy()
    hit = rng.random(x.shape) < amount
    out[hit] = (rng.random(int(hit.sum())) < 0.5).astype(x.dtype)  # salt or pepper, equally
    return out


def gaussian_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[s - 1]
    return np.asarray(gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect"))


def _filter(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy.ndimage import convolve

    return np.asarray(convolve(x, kernel[None, :, :, None], mode="reflect"))


def defocus_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.signal import convolve2d

    radius, alias = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))[s - 1]
    grid = np.arange(-2, 3)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    disk = ((xx**2 + yy**2) <= radius**2).astype(np.float64)  # radius < 1: the centre pixel alone
    taps = np.exp(-(np.arange(-1, 2) ** 2) / (2 * alias**2))
    kernel = convolve2d(disk / disk.sum(), np.outer(taps, taps) / taps.sum() ** 2, mode="same")  # 3x3 anti-alias
    return _filter(x, kernel / kernel.sum())


def motion_blur(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """ImageMagick's motion blur (one-sided Gaussian-weighted line) at one random angle per image."""
    radius, sigma = ((10, 1), (10, 1.5), (10, 2), (10, 2.5), (12, 3))[s - 1]
    out = np.empty_like(x)
    for i in range(len(x)):
        angle = np.deg2rad(rng.uniform(-45, 45))
        kernel = np.zeros((2 * radius + 1, 2 * radius + 1))
        for t in np.linspace(0, radius, 8 * radius + 1):
            weight = np.exp(-(t**2) / (2 * sigma**2))
            px, py = radius + t * np.cos(angle), radius + t * np.sin(angle)
            x0, y0 = int(px), int(py)
            fx, fy = px - x0, py - y0
            for dy, dx, w in (
                (0, 0, (1 - fx) * (1 - fy)),
                (0, 1, fx * (1 - fy)),
                (1, 0, (1 - fx) * fy),
                (1, 1, fx * fy),
            ):
                if y0 + dy < kernel.shape[0] and x0 + dx < kernel.shape[1]:
                    kernel[y0 + dy, x0 + dx] += weight * w
        out[i] = _filter(x[i : i + 1], kernel / kernel.sum())[0]
    return out


def _pil(x: np.ndarray, change: Callable[[Any], Any]) -> np.ndarray:
    from PIL import Image

    images = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    return np.stack([np.asarray(change(Image.fromarray(a)).convert("RGB")) for a in images]) / 255.0


def jpeg(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    quality = (80, 65, 58, 50, 40)[s - 1]

    def compress(image: Any) -> Any:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue()))

    return _pil(x, compress)


def pixelate(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image

    side = int(32 * (0.95, 0.9, 0.85, 0.75, 0.65)[s - 1])
    return _pil(x, lambda im: im.resize((side, side), Image.Resampling.BOX).resize((32, 32), Image.Resampling.BOX))


def _plasma(rng: np.random.Generator, size: int = 32, decay: float = 3.0) -> np.ndarray:
    """Diamond-square plasma fractal in [0, 1] (CIFAR-10-C's fog), size a power of two."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0

    def wibbled(a: np.ndarray) -> np.ndarray:
        return np.asarray(a / 4 + wibble * rng.uniform(-wibble, wibble, a.shape))

    while step >= 2:
        half = step // 2
        corners = grid[0:size:step, 0:size:step]
        square = corners + np.roll(corners, -1, axis=0)
        square += np.roll(square, -1, axis=1)
        grid[half:size:step, half:size:step] = wibbled(square)
        dr = grid[half:size:step, half:size:step]
        ul = grid[0:size:step, 0:size:step]
        grid[0:size:step, half:size:step] = wibbled(dr + np.roll(dr, 1, axis=0) + ul + np.roll(ul, -1, axis=1))
        grid[half:size:step, 0:size:step] = wibbled(dr + np.roll(dr, 1, axis=1) + ul + np.roll(ul, -1, axis=0))
        step //= 2
        wibble /= decay
    grid -= grid.min()
    return grid / grid.max()


def fog(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    strength, decay = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))[s - 1]
    top = x.max(axis=(1, 2, 3), keepdims=True)
    layers = np.stack([_plasma(rng, 32, decay) for _ in range(len(x))])[..., None]
    return (x + strength * layers) * top / (top + strength)


def grayscale(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    amount = (0.2, 0.4, 0.6, 0.8, 1.0)[s - 1]
    luma = (x @ np.asarray([0.299, 0.587, 0.114]))[..., None]
    return x * (1 - amount) + luma * amount


def rotation(x: np.ndarray, s: int, rng: np.random.Generator) -> np.ndarray:
    """Rotated by the severity's angle, either way (black corners, as a rotated camera crop has none)."""
    from PIL import Image

    angle = (10, 20, 30, 45, 90)[s - 1]
    images = (np.clip(x, 0, 1) * 255).round().astype(np.uint8)
    turned = [
        Image.fromarray(a).rotate(angle * rng.choice((-1, 1)), resample=Image.Resampling.BILINEAR) for a in images
    ]
    return np.stack([np.asarray(t) for t in turned]) / 255.0


SHIFTS: dict[str, Shift] = {
    "brightness": brightness,
    "contrast": contrast,
    "saturation": saturation,
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "impulse_noise": impulse_noise,
    "gaussian_blur": gaussian_blur,
    "defocus_blur": defocus_blur,
    "motion_blur": motion_blur,
    "jpeg": jpeg,
    "pixelate": pixelate,
    "fog": fog,
    "grayscale": grayscale,
    "rotation": rotation,
}
OTHER = "other_objects"  # severity = share of the window replaced by photos of other things
OTHER_SHARE = (0.1, 0.2, 0.3, 0.5, 1.0)
ALL_SHIFTS = (*SHIFTS, OTHER)


def other_objects(count: int, rng: np.random.Generator) -> np.ndarray:
    """Random 32x32 crops of matplotlib's sample photos (a portrait, a product shot): not vehicles.

    The dev archive holds only CIFAR-100 classes 8 and 48 (the meta names the other 98 but has
    no pixels for them), so other classes' images are not available here.
    """
    import matplotlib
    from PIL import Image

    folder = Path(matplotlib.get_data_path()) / "sample_data"
    photos = [
        np.asarray(Image.open(folder / n).convert("RGB")) for n in ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")
    ]
    crops = []
    for i in range(count):
        photo = photos[i % len(photos)]
        side = int(rng.integers(40, min(photo.shape[:2])))
        y, x = int(rng.integers(0, photo.shape[0] - side + 1)), int(rng.integers(0, photo.shape[1] - side + 1))
        crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((32, 32), Image.Resampling.BILINEAR)
        crops.append(np.asarray(crop))
    return np.stack(crops)


def variants(
    images: np.ndarray, severities: tuple[int, ...], seed: int = 0, shifts: tuple[str, ...] = tuple(SHIFTS)
) -> tuple[list[tuple[str, int]], np.ndarray]:
    """Every image under every (shift, severity): names and uint8 (V, N, 32, 32, 3); V[0] is the clean set."""
    rng = np.random.default_rng(seed)
    names: list[tuple[str, int]] = [("clean", 0)]
    out = [images]
    x = images.astype(np.float64) / 255
    for name in shifts:
        shift = SHIFTS[name]
        for s in severities:
            names.append((name, s))
            out.append((np.clip(shift(x, s, rng), 0, 1) * 255).round().astype(np.uint8))
    names.append((OTHER, 0))
    out.append(other_objects(len(images), rng))
    return names, np.stack(out)


# --- the trials: pure NumPy, so the peers' process rebuilds exactly the same ------------------


@dataclass(frozen=True)
class Trial:
    shift: str  # "none" for a same-distribution window
    severity: int
    size: int
    reference: np.ndarray  # image indices of the baseline
    window: np.ndarray  # image indices of the window
    variant: np.ndarray  # per window image: which variant (index into the variants' names)


def trials(names: list[tuple[str, int]], n_images: int, params: dict[str, Any]) -> list[Trial]:
    rng = np.random.default_rng(params["seed"])
    index = {name: i for i, name in enumerate(names)}
    out: list[Trial] = []
    shifts = [s for s in ALL_SHIFTS if (s, params["severities"][0]) in index or (s == OTHER and (s, 0) in index)]
    cells: list[tuple[str, int]] = [("none", 0)] + [(s, v) for s in shifts for v in params["severities"]]
    for shift, severity in cells:
        for size in params["sizes"]:
            for _ in range(params["nulls"] if shift == "none" else windows_for(params, severity)):
                order = rng.permutation(n_images)
                reference = np.sort(order[: params["reference"]])
                window = order[params["reference"] : params["reference"] + size]
                variant = np.zeros(size, dtype=np.int64)
                if shift == OTHER:
                    variant[: round(OTHER_SHARE[severity - 1] * size)] = index[(OTHER, 0)]
                elif shift != "none":
                    variant[:] = index[(shift, severity)]
                out.append(Trial(shift, severity, size, reference, window, variant))
    return out


def windows_for(params: dict[str, Any], severity: int) -> int:
    """Shifted windows per (shift, size) cell at this severity: `windows`, or `windows_s3` at severity 3
    (the severity the "how many images" table and the cell-by-cell comparison are read at)."""
    return int(params.get("windows_s3") or params["windows"]) if severity == 3 else int(params["windows"])


def round_robin(plan: list[Trial]) -> list[int]:
    """Trial indices with every cell (shift, severity, size) advancing at the same pace, in proportion
    to its windows: a run cut short by its time budget has the same share of each cell done (the
    same order for every detector)."""
    cells: dict[tuple[str, int, int], list[int]] = {}
    for i, t in enumerate(plan):
        cells.setdefault((t.shift, t.severity, t.size), []).append(i)
    paced = [((j + 0.5) / len(q), i) for q in cells.values() for j, i in enumerate(q)]
    return [i for _, i in sorted(paced)]


# --- scones ----------------------------------------------------------------------------------


def scones_checks(data: dict[str, np.ndarray], trial: Trial, classes: list[str], config: Any = None) -> list[Any]:
    """One monitoring run (scones.monitor.drift.evaluate, every check) on a trial's window."""
    from scones.monitor.baseline import Baseline
    from scones.monitor.constraints import MonitorConfig
    from scones.monitor.drift import evaluate
    from scones.monitor.features import output_summary
    from scones.monitor.window import COUNTS, Window

    config = config or MonitorConfig()
    ref = trial.reference
    predicted, max_prob, entropy = output_summary(data["probs"][0, ref])
    baseline = Baseline(
        {"classes": classes, "threshold": THRESHOLD},
        data["features"][0, ref],
        predicted,
        max_prob,
        entropy,
        None,
        data["embeddings"][0, ref],
        config,
    )
    probs = data["probs"][trial.variant, trial.window]
    w_pred, w_max, w_entropy = output_summary(probs)
    rows = np.column_stack(
        [np.zeros(len(probs)), w_max, w_entropy, w_pred, data["features"][trial.variant, trial.window]]
    )
    counts = dict.fromkeys(COUNTS, 0)
    n = len(probs)
    counts.update(records=n, inputs=n, decoded=n, outputs=n, low_confidence=int((w_max < THRESHOLD).sum()))
    window = Window(
        classes,
        THRESHOLD,
        counts,
        np.bincount(w_pred, minlength=len(classes)),
        rows,
        np.empty((0, 32, 32, 3), np.uint8),
        {},
        (None, None),
    )
    return evaluate(baseline, window, data["embeddings"][trial.variant, trial.window])


def scones_detects(data: dict[str, np.ndarray], trial: Trial, classes: list[str], config: Any = None) -> bool:
    """The run's verdict: drift when any check is violated."""
    return any(r.violated for r in scones_checks(data, trial, classes, config))


def measure(
    model_path: str | None,
    severities: tuple[int, ...],
    seed: int,
    shifts: tuple[str, ...] = tuple(SHIFTS),
    limit: int | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Variants of the dev training images and the model's outputs on them (computed once)."""
    from scones.data.cifar import read_archive
    from scones.model.artifact import load
    from scones.monitor.features import OnnxModel, image_features

    images = read_archive(ARCHIVE).splits["train"].images()[:limit]
    started = time.perf_counter()
    names, stack = variants(images, severities, seed, shifts)
    shifted = time.perf_counter() - started
    if model_path:
        artifact = load(model_path)
    else:
        from tests.helpers import tiny_artifact

        artifact = tiny_artifact()
    model = OnnxModel(artifact)
    started = time.perf_counter()
    flat = stack.reshape(-1, 32, 32, 3)
    probs, embeddings = model.predict(flat)
    if embeddings is None:
        raise SystemExit("the model has no embedding output; export it with a current 'scones train'")
    inferred = time.perf_counter() - started
    features = np.concatenate([image_features(flat[s : s + 2048]) for s in range(0, len(flat), 2048)])
    v, n = stack.shape[:2]
    data = {
        "probs": probs.reshape(v, n, -1),
        "embeddings": embeddings.reshape(v, n, -1),
        "features": features.reshape(v, n, -1),
    }
    info = {
        "names": names,
        "classes": list(artifact.manifest.classes),
        "images": n,
        "variants": v,
        "shift_seconds": shifted,
        "inference_seconds": inferred,
        "embedding_dim": int(embeddings.shape[1]),
    }
    return data, info


def cached_measure(
    model_path: str | None, severities: tuple[int, ...], seed: int
) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """`measure`, kept in bench/results/ for the same model, severities and seed (ONNX on ~70,000
    images takes minutes on a loaded machine); also the file the peers' process reads."""
    import hashlib

    key = hashlib.sha256(Path(model_path).read_bytes() if model_path else b"tiny").hexdigest()[:12]
    path = SCRATCH / f"drift_power_inputs-{key}-{''.join(map(str, severities))}-{seed}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in ("probs", "embeddings", "features")}
            info = json.loads(str(npz["info"]))
        info["names"] = [tuple(n) for n in info["names"]]
        return data, info, path
    data, info = measure(model_path, severities, seed)
    SCRATCH.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data, info=json.dumps(info))
    return data, info, path


# --- peers (run in their own venv: `--peer-worker`) ------------------------------------------


def peer_worker(data_path: Path, out_path: Path) -> None:
    """Every peer on every trial: its score and seconds; written as JSON to out_path."""
    import logging
    import os
    import warnings

    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import pandas as pd
    import torch
    from alibi_detect.cd import KSDrift, MMDDrift
    from evidently.legacy.metrics.data_drift.embedding_drift_methods import model as evidently_model

    torch.set_num_threads(1)  # scones' loop runs beside it on the other core
    with np.load(data_path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    params = json.loads(out_path.with_suffix(".params").read_text())
    names = [tuple(n) for n in params["names"]]
    plan = trials(names, data["probs"].shape[1], params)  # type: ignore[arg-type]
    evidently = evidently_model()  # its default: a domain classifier, drift when ROC AUC > 0.55
    wanted = params.get("only") or ["alibi_mmd", "alibi_ks_softmax", "evidently"]  # "only": a re-run of some
    results: dict[str, dict[int, tuple[float, float]]] = {name: {} for name in wanted}
    started = time.perf_counter()
    for done, i in enumerate(round_robin(plan)):
        if time.perf_counter() - started > params["budget"]:
            break
        trial = plan[i]
        ref_e, ref_p = data["embeddings"][0, trial.reference], data["probs"][0, trial.reference]
        win_e = data["embeddings"][trial.variant, trial.window]
        win_p = data["probs"][trial.variant, trial.window]
        if "alibi_ks_softmax" in wanted:
            t = time.perf_counter()
            ks = KSDrift(ref_p, p_val=0.01)  # Bonferroni over the softmax outputs, its default
            p_vals = np.asarray(ks.predict(win_p, return_p_val=True)["data"]["p_val"])
            results["alibi_ks_softmax"][i] = (float(min(1.0, p_vals.min() * len(p_vals))), time.perf_counter() - t)
        if "evidently" in wanted:
            t = time.perf_counter()
            columns = [f"e{j}" for j in range(ref_e.shape[1])]
            score, _, _ = evidently(pd.DataFrame(win_e, columns=columns), pd.DataFrame(ref_e, columns=columns))
            results["evidently"][i] = (float(score), time.perf_counter() - t)
        # every k-th window of each cell (by plan index: windows of a cell are consecutive there; the
        # round-robin order cycles through the window sizes, so every k-th of it would be one size only)
        if "alibi_mmd" not in wanted or i % params["mmd_every"]:
            continue  # alibi's permutations are a Python loop: seconds a window on a loaded machine
        t = time.perf_counter()
        mmd = MMDDrift(ref_e, backend="pytorch", p_val=0.01)  # its defaults otherwise (100 permutations)
        p = float(mmd.predict(win_e)["data"]["p_val"])
        results["alibi_mmd"][i] = (p, time.perf_counter() - t)
        if done % 50 == 0:  # (after MMD: runs only every mmd_every windows)
            print(f"  peers: {done}/{len(plan)} windows", file=sys.stderr, flush=True)
            out_path.write_text(json.dumps(results))
    out_path.write_text(json.dumps(results))


def ensure_venv(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        print(f"creating {venv} (pip install {' '.join(PEER_PACKAGES)})", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
        (venv / ".ready").touch()
    return python


# Decision rules: (score is a p-value -> drift when below; else drift when above), default threshold
PEERS = {"alibi_mmd": ("p", 0.01), "alibi_ks_softmax": ("p", 0.01), "evidently": ("score", 0.55)}


def calibrate(kind: str, default: float, null_scores: np.ndarray, max_rate: float = 0.01, equal: bool = False) -> float:
    """The default threshold, or the tightest one that keeps same-distribution alarms <= max_rate;
    `equal`: the loosest threshold with at most that many alarms (looser than the default when the
    default raises fewer: the peer then spends the same false-alarm budget as the detector it faces)."""
    allowed = int(np.floor(max_rate * len(null_scores) + 1e-9))
    ordered = np.sort(null_scores if kind == "p" else -null_scores)  # most alarming first
    limit = default if kind == "p" else -default
    if not equal and (ordered < limit).sum() <= allowed:
        return default
    if allowed >= len(ordered):
        return float("inf") if kind == "p" else float("-inf")
    tight = float(ordered[allowed])  # alarms are strictly beyond it: at most `allowed` of them
    return tight if kind == "p" else -tight


def fires(kind: str, threshold: float, scores: np.ndarray) -> np.ndarray:
    return scores < threshold if kind == "p" else scores > threshold


# --- the report ------------------------------------------------------------------------------


def smallest_window(rates: dict[int, float], goal: float = 0.9) -> int | None:
    hits = [size for size, rate in sorted(rates.items()) if rate >= goal]  # NaN (not run) is never a hit
    return hits[0] if hits else None


def upper_bound(alarms: int, runs: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound on a rate seen as alarms of runs."""
    from scipy.stats import beta

    return 1.0 if alarms >= runs else float(beta.ppf(confidence, alarms + 1, runs - alarms))


def _rate(fired: np.ndarray) -> dict[str, float]:
    """Share of the windows that ran (NaN: cut by the time budget) that raised drift, and its 95% upper bound."""
    ran = fired[~np.isnan(fired)]
    if not len(ran):
        return {"rate": float("nan"), "n": 0, "hits": 0, "upper95": float("nan")}
    hits = int(ran.sum())
    return {"rate": float(ran.mean()), "n": int(len(ran)), "hits": hits, "upper95": upper_bound(hits, len(ran))}


def summarise(plan: list[Trial], verdicts: dict[str, np.ndarray], params: dict[str, Any]) -> dict[str, Any]:
    """Detection rates per detector, shift, severity and window size; false alarms per size."""
    summary: dict[str, Any] = {"false_alarms": {}, "detection": {}, "smallest_window_s3": {}}
    shift = np.asarray([t.shift for t in plan])
    severity = np.asarray([t.severity for t in plan])
    size = np.asarray([t.size for t in plan])
    for name, fired in verdicts.items():
        summary["false_alarms"][name] = {str(n): _rate(fired[(shift == "none") & (size == n)]) for n in params["sizes"]}
        table: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for s in ALL_SHIFTS:
            table[s] = {}
            for v in params["severities"]:
                table[s][str(v)] = {
                    str(n): _rate(fired[(shift == s) & (severity == v) & (size == n)]) for n in params["sizes"]
                }
        summary["detection"][name] = table
        if 3 in params["severities"]:
            summary["smallest_window_s3"][name] = {
                s: smallest_window({n: table[s]["3"][str(n)]["rate"] for n in params["sizes"]}) for s in ALL_SHIFTS
            }
    return summary


def scones_loop(
    data: dict[str, np.ndarray], info: dict[str, Any], plan: list[Trial], budget: float, seconds: list[float]
) -> np.ndarray:
    """scones on every window in turn until the budget: verdicts (NaN: not run); every check's
    p-value and effect go to bench/results/drift_power_scones.json for analysis and --reuse."""
    fired = np.full(len(plan), np.nan)
    details: dict[int, list[Any]] = {}
    started = time.perf_counter()
    for done, i in enumerate(round_robin(plan)):
        if time.perf_counter() - started > budget:
            break
        t = time.perf_counter()
        results = scones_checks(data, plan[i], info["classes"])
        seconds.append(time.perf_counter() - t)
        fired[i] = any(r.violated for r in results)
        details[i] = [
            [f"{r.check_type}:{r.feature_name}", r.p_value, r.statistic, r.violated]
            for r in results
            if r.p_value is not None
        ]
        if done % 100 == 0:
            print(f"  scones: {done}/{len(plan)} windows", file=sys.stderr, flush=True)
            (SCRATCH / "drift_power_scones.json").write_text(json.dumps({"checks": details, "seconds": seconds}))
    (SCRATCH / "drift_power_scones.json").write_text(json.dumps({"checks": details, "seconds": seconds}))
    return fired


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model.tar.gz of a `scones train` (default: the tiny test model)")
    parser.add_argument("--quick", action="store_true", help="severities 1, 3, 5; 5 windows a cell; 50 null windows")
    parser.add_argument("--windows", type=int, default=10, help="shifted windows per shift, severity and size")
    parser.add_argument(
        "--windows-s3", type=int, help="shifted windows per shift and size at severity 3 (default: --windows)"
    )
    parser.add_argument("--nulls", type=int, default=200, help="same-distribution windows per size")
    parser.add_argument("--reference", type=int, default=400, help="baseline images per trial")
    parser.add_argument("--no-peers", action="store_true", help="scones only (no venv)")
    parser.add_argument("--peers-only", action="store_true", help="the peers only (then --reuse reports both)")
    # outside the repository: tests/test_architecture.py reads every .py file under it
    parser.add_argument("--venv", type=Path, default=Path(tempfile.gettempdir()) / "scones-drift-venv")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--mmd-every", type=int, default=1, help="alibi's MMD on every k-th window only (its cost)")
    parser.add_argument("--reuse", action="store_true", help="report the windows of the last run (bench/results/)")
    parser.add_argument("--severities", default="1,2,3,4,5", help="comma-separated, of 1-5")
    parser.add_argument(
        "--budget", type=float, default=float("inf"), help="seconds per detector loop (windows in turn)"
    )
    parser.add_argument("--peer-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_worker:
        peer_worker(*args.peer_worker)
        return
    sys.path.insert(0, str(REPO))
    severities = (1, 3, 5) if args.quick else tuple(int(v) for v in args.severities.split(","))
    windows, nulls = (5, 50) if args.quick else (args.windows, args.nulls)
    # every severity's images are computed once (the cache): a run of fewer severities reuses them
    data, info, inputs = cached_measure(args.model, severities if args.quick else SEVERITIES, args.seed)
    params = {
        "budget": args.budget,
        "mmd_every": args.mmd_every,
        "seed": args.seed,
        "sizes": list(SIZES),
        "severities": list(severities),
        "windows": windows,
        "windows_s3": args.windows_s3 or windows,
        "nulls": nulls,
        "reference": args.reference,
        "names": info["names"],
    }
    plan = trials(info["names"], info["images"], params)
    print(
        f"{info['images']} images x {info['variants']} variants: shifts {info['shift_seconds']:.1f} s, "
        f"ONNX {info['inference_seconds']:.1f} s; {len(plan)} windows per detector",
        flush=True,
    )
    verdicts: dict[str, np.ndarray] = {}
    seconds: dict[str, list[float]] = {"scones": []}
    peers_run = None
    out_path = SCRATCH / "drift_power_peers.json"
    if not args.reuse:  # the windows' definition, for the peers' process
        out_path.with_suffix(".params").write_text(json.dumps(params))
    if not (args.no_peers or args.reuse):  # the peers run in their own process beside scones' loop
        python = ensure_venv(args.venv)
        out_path.unlink(missing_ok=True)
        peers_run = subprocess.Popen([str(python), __file__, "--peer-worker", str(inputs), str(out_path)])
    if args.peers_only:
        if peers_run is None or peers_run.wait() != 0:
            raise SystemExit("the peers' process failed (see above)")
        return
    if args.reuse:
        saved = json.loads((SCRATCH / "drift_power_scones.json").read_text())
        fired = np.full(len(plan), np.nan)
        for i, row in saved["checks"].items():
            fired[int(i)] = any(check[3] for check in row)
        seconds["scones"] = saved["seconds"]
    else:
        fired = scones_loop(data, info, plan, args.budget, seconds["scones"])
    verdicts["scones"] = fired
    thresholds: dict[str, float] = {}
    if peers_run is not None or (args.reuse and out_path.is_file()):
        if peers_run is not None and peers_run.wait() != 0:
            raise SystemExit("the peers' process failed (see above)")
        peers = json.loads(out_path.read_text())
        null = np.asarray([t.shift == "none" for t in plan])
        sizes = np.asarray([t.size for t in plan])
        for name, rows in peers.items():
            scores = np.full(len(plan), np.nan)
            for i, (score, took) in rows.items():
                scores[int(i)] = score
                seconds.setdefault(name, []).append(took)
            kind, default = PEERS[name]
            documented = np.full(len(plan), np.nan)
            equal = np.full(len(plan), np.nan)
            for n in SIZES:  # calibrated per window size: a user sets the threshold for the window they run
                at = (sizes == n) & ~np.isnan(scores)
                if not (null & at).any():
                    continue
                documented[at] = fires(kind, default, scores[at])
                # equal false alarms: no more same-distribution alarms than scones raised on the windows
                # both ran at this size (as a share of the peer's null windows), nor than 1%
                both = null & (sizes == n) & ~np.isnan(fired)
                share = min(0.01, float(np.nanmean(fired[both]))) if both.any() else 0.01
                thresholds[f"{name}@{n}"] = calibrate(kind, default, scores[null & at], share, equal=True)
                equal[at] = fires(kind, thresholds[f"{name}@{n}"], scores[at])
            verdicts[f"{name} (docs)"] = documented
            verdicts[name] = equal
    summary = summarise(plan, verdicts, params)
    summary["thresholds"] = thresholds
    summary["seconds_per_run"] = {
        k: {"median": float(np.median(v)), "p10": float(np.percentile(v, 10)), "p90": float(np.percentile(v, 90))}
        for k, v in seconds.items()
    }
    summary["setup"] = {k: v for k, v in info.items() if k != "names"} | {
        k: v for k, v in params.items() if k != "names"
    }
    report(summary, list(verdicts), params)
    if args.json:
        print(json.dumps(summary))


def _pct(cell: dict[str, float]) -> str:
    return "  -" if cell["n"] == 0 else f"{cell['rate'] * 100:3.0f}"


def report(summary: dict[str, Any], detectors: list[str], params: dict[str, Any]) -> None:
    sizes = params["sizes"]
    print("\nfalse alarms per run (same-distribution windows):")
    for d in detectors:
        cells = summary["false_alarms"][d]
        text = []
        for n in sizes:
            cell = cells[str(n)]
            text.append(f"n={n}: {cell['hits']} of {cell['n']} (95% upper {cell['upper95'] * 100:.1f}%)")
        print(f"  {d:>24}  " + ", ".join(text))
    print("\nseconds per run (median, p10-p90):")
    for d, s in summary["seconds_per_run"].items():
        print(f"  {d:>18}  {s['median']:.3f} ({s['p10']:.3f}-{s['p90']:.3f})")
    print("\ndetection rate, % (windows of " + "/".join(map(str, sizes)) + ")")
    print(f"{'shift':>15} sev  " + "  ".join(f"{d:>19}" for d in detectors))
    for s in ALL_SHIFTS:
        for v in params["severities"]:
            cells = ["/".join(_pct(summary["detection"][d][s][str(v)][str(n)]) for n in sizes) for d in detectors]
            print(f"{s:>15} {v:>3}  " + "  ".join(f"{c:>19}" for c in cells))
    if summary["smallest_window_s3"]:
        print("\nsmallest window catching severity 3 in >= 90% of windows:")
        for s in ALL_SHIFTS:
            cells = [str(summary["smallest_window_s3"][d][s] or f">{sizes[-1]}") for d in detectors]
            print(f"{s:>15}  " + "  ".join(f"{c:>19}" for c in cells))


if __name__ == "__main__":
    main()
