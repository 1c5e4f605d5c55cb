"""Bad input to every command: one `Error: ...` line (or a usage error, exit 2), never a traceback.

Table-driven: each `Case` is a command line (with `{tmp}` placeholders for hostile files made
by `hostile_files`), what it must end with, and an optional check that nothing was left
half-written. `python -m tests.cli.test_bad_input` prints the same cases as the markdown table
kept in docs/reliability.md.

Outcomes:
    error   exit 1, exactly one line starting with "Error:" on stderr
    usage   exit 2 (click's usage error: bad option value, missing argument)
    lambda  `functions invoke`: exit 1 with Lambda's error document, errorType one of `names`
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scones.cli import app
from tests.helpers import png_bytes, tiny_artifact


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    tried: str  # what the input is, for the table
    outcome: str = "error"  # error | usage | lambda
    names: tuple[str, ...] = ()  # lambda: accepted errorType values
    untouched: tuple[str, ...] = field(default=())  # paths under {tmp} that must not exist afterwards


class _Pwn:
    """A pickle that runs a command when loaded (what a malicious CIFAR member would carry)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data) if info.type == tarfile.REGTYPE else 0
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)


def _member(name: str, kind: bytes = tarfile.REGTYPE, target: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def _photo_folders(tmp: Path) -> None:
    """Image folders: one with a truncated JPEG and a decompression bomb, one class only, a train/test leak."""
    from tests.data.photos import bomb_png, cifar_rows, jpeg, truncated

    rows = cifar_rows(4, seed=21)
    good = [jpeg(row, (96, 96)) for row in rows]
    for name, files in {"cat": {"a.jpg": good[0], "b.jpg": truncated(good[1])}, "dog": {"c.png": bomb_png(),
                        "d.jpg": good[2]}}.items():  # fmt: skip
        (tmp / "photos-bad" / name).mkdir(parents=True, exist_ok=True)
        for file, data in files.items():
            (tmp / "photos-bad" / name / file).write_bytes(data)
    (tmp / "photos-one-class" / "cat").mkdir(parents=True, exist_ok=True)
    (tmp / "photos-one-class" / "cat" / "a.jpg").write_bytes(good[0])
    for split, name, data in [("train", "cat", good[0]), ("train", "dog", good[1]), ("test", "cat", good[0]),
                              ("test", "dog", good[3])]:  # fmt: skip
        (tmp / "photos-leak" / split / name).mkdir(parents=True, exist_ok=True)
        (tmp / "photos-leak" / split / name / f"{split}.jpg").write_bytes(data)
    (tmp / "garbage.manifest").write_bytes(os.urandom(4096))


def hostile_files(tmp: Path) -> None:
    """Every hostile file the cases refer to, under `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "garbage.bin").write_bytes(os.urandom(4096))
    (tmp / "garbage.jsonl").write_bytes(os.urandom(4096))
    (tmp / "model.tar.gz").write_bytes(tiny_artifact().pack())
    (tmp / "empty.tar.gz").write_bytes(b"")
    (tmp / "bad.json").write_text("{not json")
    (tmp / "list.json").write_text("[1, 2, 3]")
    (tmp / "huge.json").write_text(json.dumps({"s3_bucket": "scones", "s3_key": "k" * 8_000_000}))
    (tmp / "notasl.json").write_text(json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Banana"}}}))
    (tmp / "image.png").write_bytes(png_bytes())
    (tmp / "notimage.png").write_bytes(b"this is not a png")
    _photo_folders(tmp)
    (tmp / "nonempty").mkdir(exist_ok=True)
    (tmp / "nonempty" / "keep.txt").write_text("mine")
    root = "cifar-100-python"
    _tar(tmp / "traversal.tar.gz", [(_member(f"{root}/../../escaped.txt"), b"escaped"),
                                    (_member(f"{root}/meta", tarfile.SYMTYPE, "/etc/passwd"), b""),
                                    (_member("/tmp/absolute-escape.txt"), b"escaped")])  # fmt: skip
    evil = pickle.dumps(_Pwn(tmp / "pwned"), protocol=2)
    _tar(tmp / "pickle.tar.gz", [(_member(f"{root}/{n}"), evil) for n in ("meta", "train", "test")])
    big = _member(f"{root}/train")  # a header declaring 10 GB with 1 KB behind it
    with tarfile.open(tmp / "declared-huge.tar.gz", "w:gz") as tar:
        big.size = 10 * 1024**3
        tar.fileobj.write(big.tobuf())
        tar.fileobj.write(b"\0" * 1024)
    artifact = tiny_artifact()
    manifest = artifact.manifest.to_json().encode()
    _tar(tmp / "model-symlink.tar.gz", [(_member("manifest.json", tarfile.SYMTYPE, "/etc/passwd"), b""),
                                        (_member("model.onnx"), artifact.onnx)])  # fmt: skip
    _tar(tmp / "model-pickle.tar.gz", [(_member("model.pth"), evil), (_member("manifest.json"), manifest)])
    _tar(tmp / "model-bad-manifest.tar.gz", [(_member("manifest.json"), b"{]"), (_member("model.onnx"), b"x")])
    (tmp / "model-garbage-onnx").mkdir(exist_ok=True)
    artifact.write_dir(tmp / "model-garbage-onnx")
    (tmp / "model-garbage-onnx" / "model.onnx").write_bytes(os.urandom(512))


T = "{tmp}"
LAMBDA_BAD_EVENT = ("InvalidEvent",)
CASES: list[Case] = [
    # global options
    Case("storage-unknown", ["--storage", "ftp", "endpoints"], "--storage ftp"),
    Case("home-is-a-file", ["--home", f"{T}/garbage.bin", "endpoints"], "--home pointing at a file"),
    Case("bucket-invalid", ["--bucket", "Bad_Bucket!", "testcases"], "--bucket Bad_Bucket!"),
    Case("s3-unreachable", ["--storage", "s3", "--s3-endpoint-url", "http://127.0.0.1:9", "testcases"],
         "--storage s3 with nothing listening at the endpoint URL"),
    # stage 1
    Case("stage-missing-source", ["stage", "--source", f"{T}/nope.tar.gz"], "--source a file that does not exist"),
    Case("stage-garbage-source", ["stage", "--source", f"{T}/garbage.bin"], "--source 4 KB of random bytes"),
    Case("stage-empty-source", ["stage", "--source", f"{T}/empty.tar.gz"], "--source an empty file"),
    Case("stage-tar-traversal", ["stage", "--source", f"{T}/traversal.tar.gz"],
         "tar with ../../ and absolute members and a symlink to /etc/passwd", untouched=("escaped.txt",)),
    Case("stage-malicious-pickle", ["stage", "--source", f"{T}/pickle.tar.gz"],
         "CIFAR members that are pickles calling os.system", untouched=("pwned",)),
    Case("stage-declared-huge", ["stage", "--source", f"{T}/declared-huge.tar.gz"],
         "tar member declaring 10 GB, 1 KB present"),
    Case("stage-bad-classes", ["stage", "--source", f"{T}/garbage.bin", "--classes", ""], "--classes ''"),
    Case("stage-prefix-escape", ["stage", "--source", f"{T}/garbage.bin", "--prefix", "../../etc"],
         "--prefix ../../etc (escapes the bucket)"),
    Case("stage-bucket-escape", ["stage", "--source", f"{T}/garbage.bin", "--bucket", "../x"], "--bucket ../x"),
    Case("stage-photos-bad-files", ["stage", "--source", f"{T}/photos-bad"],
         "image folder with a truncated JPEG and a 20000x20000 PNG bomb"),
    Case("stage-photos-one-class", ["stage", "--source", f"{T}/photos-one-class"], "image folder with one class"),
    Case("stage-photos-leak", ["stage", "--source", f"{T}/photos-leak"], "the same JPEG in train/ and test/"),
    Case("stage-test-fraction", ["stage", "--source", f"{T}/photos-leak/train", "--test-fraction", "1.5"],
         "--test-fraction 1.5"),
    Case("stage-garbage-manifest", ["stage", "--source", f"{T}/garbage.manifest"],
         "augmented manifest of 4 KB random bytes"),
    # stage 2a
    Case("train-hp-not-number", ["train", "-p", "epochs=abc"], "-p epochs=abc"),
    Case("train-hp-unknown", ["train", "-p", "colour=blue"], "-p colour=blue (unknown hyperparameter)"),
    Case("train-hp-no-equals", ["train", "-p", "epochs"], "-p epochs (no =)"),
    Case("train-hp-negative", ["train", "-p", "learning_rate=-1"], "-p learning_rate=-1"),
    Case("train-no-data", ["train", "--data", "s3://scones/nothing-here"], "--data a prefix with no staged data"),
    Case("train-data-escape", ["train", "--data", "s3://scones/../../etc"], "--data s3://scones/../../etc"),
    Case("train-name-invalid", ["train", "--name", "bad name/../x"], "--name 'bad name/../x'"),
    Case("describe-job-unknown", ["describe-training-job", "nope"], "a job that does not exist"),
    Case("evaluate-model-missing", ["evaluate", "--model", f"{T}/nope.tar.gz"], "--model a missing file"),
    Case("evaluate-model-pickle", ["evaluate", "--model", f"{T}/model-pickle.tar.gz"],
         "--model a tar holding a malicious pickle", untouched=("pwned",)),
    # stage 2b
    Case("serve-model-garbage", ["serve", "--model", f"{T}/garbage.bin"], "--model random bytes"),
    Case("serve-model-symlink", ["serve", "--model", f"{T}/model-symlink.tar.gz"],
         "model.tar.gz whose manifest.json is a symlink to /etc/passwd"),
    Case("serve-model-pickle", ["serve", "--model", f"{T}/model-pickle.tar.gz"],
         "model.tar.gz with a pickle instead of model.onnx", untouched=("pwned",)),
    Case("serve-model-bad-manifest", ["serve", "--model", f"{T}/model-bad-manifest.tar.gz"],
         "manifest.json that is not JSON"),
    Case("serve-model-garbage-onnx", ["serve", "--model", f"{T}/model-garbage-onnx"],
         "model folder whose model.onnx is random bytes"),
    Case("serve-model-s3-escape", ["serve", "--model", "s3://scones/../../etc/passwd"],
         "--model s3://scones/../../etc/passwd"),
    Case("serve-port-range", ["serve", "--model", f"{T}/model-garbage-onnx", "--port", "70000"], "--port 70000"),
    Case("serve-port-text", ["serve", "--port", "eighty"], "--port eighty", outcome="usage"),
    Case("deploy-name-invalid", ["deploy", "--model", f"{T}/nope.tar.gz", "--name", "no_underscores"],
         "--name no_underscores"),
    Case("deploy-capture-percent", ["deploy", "--model", f"{T}/nope.tar.gz", "--capture-percent", "150"],
         "--capture-percent 150"),
    Case("deploy-capture-destination", ["deploy", "--model", f"{T}/nope.tar.gz",
                                        "--capture-destination", "file:///etc"], "--capture-destination file:///etc"),
    Case("deploy-capture-escape", ["deploy", "--model", f"{T}/model.tar.gz", "--port", "0", "--capture-percent",
                                   "100", "--capture-destination", "s3://scones/../../etc"],
         "--capture-destination s3://scones/../../etc (valid model)"),
    Case("deploy-model-missing", ["deploy", "--model", f"{T}/nope.tar.gz"], "--model a missing file"),
    Case("invoke-no-endpoint", ["invoke", "nope", f"{T}/image.png"], "an endpoint that does not exist"),
    Case("invoke-missing-file", ["invoke", "nope", f"{T}/nope.png"], "an image file that does not exist"),
    Case("describe-endpoint-unknown", ["describe-endpoint", "nope"], "an endpoint that does not exist"),
    Case("delete-endpoint-unknown", ["delete-endpoint", "nope"], "an endpoint that does not exist"),
    Case("update-endpoint-unknown", ["update-endpoint", "nope", "--model", f"{T}/nope.tar.gz"],
         "an endpoint that does not exist"),
    Case("testcases-negative", ["testcases", "--count", "-3"], "--count -3"),
    Case("testcases-huge", ["testcases", "--count", "1000000000000"], "--count 10^12 with nothing staged"),
    # stage 3: functions (Lambda error documents) and workflows
    Case("function-unknown", ["functions", "invoke", "nope"], "a function that does not exist"),
    Case("function-bad-json", ["functions", "invoke", "filter_inferences", "--payload", "{bad"], "--payload '{bad'"),
    Case("function-missing-file", ["functions", "invoke", "filter_inferences", "--payload", f"@{T}/nope.json"],
         "--payload @missing.json"),
    Case("function-event-list", ["functions", "invoke", "serialize_image_data", "--payload", f"@{T}/list.json"],
         "event that is a JSON list", outcome="lambda", names=LAMBDA_BAD_EVENT),
    Case("function-key-escape", ["functions", "invoke", "serialize_image_data", "--payload",
                                 '{"s3_bucket": "scones", "s3_key": "../../../etc/passwd"}'],
         "s3_key ../../../etc/passwd", outcome="lambda", names=("InvalidKey",)),
    Case("function-bucket-escape", ["functions", "invoke", "serialize_image_data", "--payload",
                                    '{"s3_bucket": "..", "s3_key": "etc/passwd"}'],
         "s3_bucket ..", outcome="lambda", names=("InvalidKey", "InvalidEvent", "StorageError")),
    Case("function-wrong-types", ["functions", "invoke", "serialize_image_data", "--payload",
                                  '{"s3_bucket": 7, "s3_key": ["a"]}'],
         "s3_bucket 7, s3_key a list", outcome="lambda", names=LAMBDA_BAD_EVENT),
    Case("function-huge-event", ["functions", "invoke", "serialize_image_data", "--payload", f"@{T}/huge.json"],
         "an 8 MB event (key of 8 million characters)", outcome="lambda", names=("InvalidKey", "InvalidEvent")),
    Case("function-bad-base64", ["functions", "invoke", "classify_image", "--payload",
                                 '{"body": {"image_data": "***", "s3_bucket": "b", "s3_key": "k"}}'],
         "image_data that is not base64", outcome="lambda", names=LAMBDA_BAD_EVENT),
    Case("function-body-not-json", ["functions", "invoke", "filter_inferences", "--payload", '{"body": "{oops"}'],
         "body that is a string but not JSON", outcome="lambda", names=LAMBDA_BAD_EVENT),
    Case("function-inferences-strings", ["functions", "invoke", "filter_inferences", "--payload",
                                         '{"inferences": ["0.99", true]}'],
         "inferences ['0.99', true]", outcome="lambda", names=LAMBDA_BAD_EVENT),
    Case("workflow-definition-not-json", ["workflow", "create", "m", "--definition", f"{T}/bad.json"],
         "--definition a file that is not JSON"),
    Case("workflow-definition-not-asl", ["workflow", "create", "m", "--definition", f"{T}/notasl.json"],
         "--definition JSON with a state of Type Banana"),
    Case("workflow-function-no-equals", ["workflow", "create", "m", "--function", "oops"], "--function oops"),
    Case("workflow-name-invalid", ["workflow", "create", "../../m"], "state machine name ../../m"),
    Case("workflow-start-unknown", ["workflow", "start-execution", "nope"], "a machine that does not exist"),
    Case("workflow-start-bad-input", ["workflow", "start-execution", "nope", "--input", "{bad"], "--input '{bad'"),
    Case("workflow-start-bad-type", ["workflow", "start-execution", "nope", "--type", "FAST"], "--type FAST"),
    Case("workflow-describe-unknown", ["workflow", "describe-execution", "nope"], "an execution that does not exist"),
    Case("workflow-history-unknown", ["workflow", "get-execution-history", "nope"], "an execution that does not exist"),
    Case("workflow-graph-unknown", ["workflow", "graph", "nope"], "a machine that does not exist"),
    Case("workflow-testcases-negative", ["workflow", "run-testcases", "nope", "--count", "-1"], "--count -1"),
    Case("workflow-testcases-processes", ["workflow", "run-testcases", "nope", "--processes", "0"], "--processes 0"),
    Case("workflow-list-unknown", ["workflow", "list-executions", "nope"], "a machine that does not exist"),
    # stage 4: monitor
    Case("monitor-since-garbage", ["monitor", "run", "--since", "last tuesday"], "--since 'last tuesday'"),
    Case("monitor-run-no-baseline", ["monitor", "run", "--capture", f"{T}/nope"],
         "--capture a missing folder, no baseline yet"),
    Case("monitor-plot-garbage", ["monitor", "plot", "--capture", f"{T}/garbage.jsonl", "--out", f"{T}/plots"],
         "--capture a .jsonl file of random bytes", untouched=("plots",)),
    Case("monitor-plot-not-capture", ["monitor", "plot", "--capture", f"{T}/list.json", "--out", f"{T}/plots"],
         "--capture a JSON file that is not captured data", untouched=("plots",)),
    Case("monitor-baseline-missing-model", ["monitor", "baseline", "--model", f"{T}/nope.tar.gz"],
         "--model a missing file"),
    Case("monitor-baseline-output-escape", ["monitor", "baseline", "--model", f"{T}/model.tar.gz", "--output",
                                            "s3://scones/../../x"], "--output s3://scones/../../x (nothing staged)"),
    Case("monitor-schedule-every", ["monitor", "schedule", "--every", "banana"], "--every banana"),
    Case("monitor-schedule-zero", ["monitor", "schedule", "--every", "0s"], "--every 0s"),
    Case("monitor-plot-missing", ["monitor", "plot", "--capture", f"{T}/nope", "--out", f"{T}/plots"],
         "--capture a missing folder", untouched=("plots",)),
    # console and AWS (no network: a given account skips STS)
    Case("console-port-range", ["console", "--port", "70000"], "--port 70000", outcome="usage"),
    Case("aws-export-nonempty", ["aws", "export", f"{T}/nonempty", "--account", "123456789012",
                                 "--model", f"{T}/model-garbage-onnx"], "an export folder that is not empty"),
    Case("aws-export-bad-bucket", ["aws", "export", f"{T}/export", "--bucket", "Bad_Bucket!",
                                   "--account", "123456789012"], "--bucket Bad_Bucket!", untouched=("export",)),
    Case("aws-export-bad-account", ["aws", "export", f"{T}/export", "--account", "me", "--model",
                                    f"{T}/model.tar.gz"], "--account me",
         untouched=("export",)),
    Case("aws-export-bad-region", ["aws", "export", f"{T}/export", "--region", "moon-1", "--account",
                                   "123456789012", "--model", f"{T}/model.tar.gz"], "--region moon-1",
         untouched=("export",)),
    Case("aws-export-garbage-model", ["aws", "export", f"{T}/export", "--account", "123456789012", "--model",
                                      f"{T}/garbage.bin"], "--model random bytes", untouched=("export",)),
]  # fmt: skip


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None


def run_case(case: Case, tmp: Path) -> Outcome:
    argv = [a.replace(T, str(tmp)) for a in case.argv]
    result = CliRunner().invoke(app, argv)
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(result.exit_code, result.stdout, result.stderr, exception)


def leftovers(home: Path) -> list[str]:
    """Objects in the home's buckets and rows in its state database (a failed command leaves none)."""
    import sqlite3

    found = [str(p.relative_to(home)) for p in (home / "buckets").rglob("*") if p.is_file()]
    if (home / "state.db").is_file():
        with sqlite3.connect(home / "state.db") as conn:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                # A monitoring execution that failed is recorded Failed, as SageMaker lists it: that is a
                # result, not a half-written one. Any other row is.
                where = " WHERE status != 'Failed'" if table == "monitoring_executions" else ""
                if conn.execute(f'SELECT COUNT(*) FROM "{table}"{where}').fetchone()[0]:  # noqa: S608 (names from sqlite_master)
                    found.append(f"rows in {table}")
        conn.close()
    return found


def verdict(case: Case, outcome: Outcome, tmp: Path) -> str:
    """'' when the outcome is what the case demands, else what went wrong."""
    if outcome.exception is not None:
        return f"uncaught {type(outcome.exception).__name__}: {outcome.exception}"
    if left := leftovers(Path(os.environ["SCONES_HOME"])):
        return f"left behind: {left}"
    text = outcome.stdout + outcome.stderr
    if "Traceback" in text:
        return "a traceback was printed"
    for name in case.untouched:
        if (tmp / name).exists():
            return f"{name} was written"
    if case.outcome == "usage":
        return "" if outcome.code == 2 else f"exit {outcome.code}, expected a usage error (2)"
    if outcome.code != 1:
        return f"exit {outcome.code}, expected 1"
    if case.outcome == "lambda":
        document = json.loads(outcome.stdout)
        return "" if document.get("errorType") in case.names else f"errorType {document.get('errorType')}"
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("Error:")]
    if len(errors) != 1 or not outcome.stderr.strip().endswith(errors[0] if errors else "\0"):
        return f"expected one 'Error:' line last on stderr, got {outcome.stderr!r}"
    return ""


def summary(case: Case, outcome: Outcome) -> str:
    """The one line a user sees, for the table."""
    if case.outcome == "lambda" and outcome.stdout.strip().startswith("{"):
        document = json.loads(outcome.stdout)
        return f"{document.get('errorType')}: {document.get('errorMessage')}"
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    if case.outcome == "usage":
        return next((line.strip(" │") for line in lines if "Invalid value" in line), lines[-1])
    return lines[-1] if lines else outcome.stdout.strip()[:200]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile")
    hostile_files(path)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp: Path) -> None:
    outcome = run_case(case, tmp)
    assert verdict(case, outcome, tmp) == "", (outcome.code, outcome.stdout[-2000:], outcome.stderr[-2000:])


def table(tmp: Path, environ: Callable[[], None]) -> str:
    rows = ["| command | input tried | exit | what it said |", "|---|---|---|---|"]
    for case in CASES:
        environ()
        outcome = run_case(case, tmp)
        problem = verdict(case, outcome, tmp)
        said = summary(case, outcome).replace("|", "\\|").replace(str(tmp), "…")
        command = " ".join(a.replace(f"{T}/", "") if len(a) < 60 else a[:40] + "…" for a in case.argv)
        said = f"**FAILS: {problem}** — {said}" if problem else said
        rows.append(f"| `scones {command}` | {case.tried} | {outcome.code} | {said[:240]} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as root:
        base = Path(root)
        hostile_files(base / "files")

        def fresh_environ() -> None:  # what the autouse fixture does for tests
            for name in list(os.environ):
                if name.startswith(("SCONES_", "AWS_")):
                    del os.environ[name]
            os.environ.update(SCONES_HOME=str(base / "home"), AWS_ACCESS_KEY_ID="testing",
                              AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")  # fmt: skip

        print(table(base / "files", fresh_environ))
