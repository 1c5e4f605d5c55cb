"""The review loop end to end on the dev data: night traffic, review, retrain, canary; every figure.

    .venv/bin/python bench/review_loop.py [--base-epochs 16] [--retrain-epochs 24] [--traffic 600]
        [--home DIR] [--json FILE]

Runs tests/loop/scenario.py (the slow test runs the same with smaller figures) in a fresh home
(or --home): stage the dev archive, train the base model, serve it with capture, send
`--traffic` night images made from the training split, monitor the window, label the review
queue from the known truth, `add_reviewed`, `retrain` (warm start, compare, register, canary
under concurrent night traffic), then send the held-out night images (the test split made
night: never reviewed, never trained on) again. Prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-epochs", type=int, default=16)
    parser.add_argument("--retrain-epochs", type=int, default=24)
    parser.add_argument("--traffic", type=int, default=600)
    parser.add_argument("--step-seconds", type=float, default=10.0, help="canary interval and bake")
    parser.add_argument("--tolerance", type=float, default=0.03, help="retrain's gate on the 100-image test split")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    home = args.home or Path(tempfile.mkdtemp(prefix="review-loop-"))
    os.environ["SCONES_HOME"] = str(home)
    from tests.loop.scenario import DEV_ARCHIVE, run

    from scones.config import load_settings

    if not DEV_ARCHIVE.is_file():
        sys.exit(f"the dev archive is not at {DEV_ARCHIVE}")
    figures = run(
        load_settings(),
        base_epochs=args.base_epochs,
        retrain_epochs=args.retrain_epochs,
        traffic=args.traffic,
        step_seconds=args.step_seconds,
        tolerance=args.tolerance,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    text = json.dumps(figures, indent=2, default=str)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
