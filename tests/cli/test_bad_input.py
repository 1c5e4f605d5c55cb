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
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scones.cli import app
from scones.config import Settings
from tests.data.archives import small_archive
from tests.helpers import png_bytes, tiny_artifact, write_model


@dataclass(frozen=True)
class Case:
    """One bad input: a valid command line with exactly one thing changed, and the error it must name.

    `setup` makes the rest of the command valid first (data staged, a state machine, a running
    endpoint), so that only the changed thing can fail it; `expect` is a phrase of the one-line
    error (for `functions invoke`, of Lambda's errorMessage, with `error_type` its errorType).
    """

    id: str
    argv: list[str]
    tried: str  # what the input is, for the table
    expect: str  # a phrase of the error message that only the named check produces
    outcome: str = "error"  # error | usage | lambda
    error_type: str = ""  # lambda: the errorType
    setup: tuple[str, ...] = ()  # "staged", "photos", "machine", "endpoint", "review" (see _setup)
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
    # one bad file per folder, so each case changes one thing from a valid folder
    folders = {
        "photos-bad": {"cat": {"a.jpg": good[0], "b.jpg": truncated(good[1])}, "dog": {"d.jpg": good[2]}},
        "photos-bomb": {"cat": {"a.jpg": good[0]}, "dog": {"c.png": bomb_png(), "d.jpg": good[2]}},
    }
    for folder, classes in folders.items():
        for name, files in classes.items():
            (tmp / folder / name).mkdir(parents=True, exist_ok=True)
            for file, data in files.items():
                (tmp / folder / name / file).write_bytes(data)
    (tmp / "photos-one-class" / "cat").mkdir(parents=True, exist_ok=True)
    (tmp / "photos-one-class" / "cat" / "a.jpg").write_bytes(good[0])
    for split, name, data in [("train", "cat", good[0]), ("train", "dog", good[1]), ("test", "cat", good[0]),
                              ("test", "dog", good[3])]:  # fmt: skip
        (tmp / "photos-leak" / split / name).mkdir(parents=True, exist_ok=True)
        (tmp / "photos-leak" / split / name / f"{split}.jpg").write_bytes(data)
    (tmp / "garbage.manifest").write_bytes(os.urandom(4096))
    (tmp / "labels-unknown-id.csv").write_text("id,label\nreq-1,bicycle\nnope,motorcycle\n")
    (tmp / "labels-bad-line.csv").write_text("id,label\nreq-1,bicycle\nreq-1;motorcycle\n")


def hostile_files(tmp: Path) -> None:
    """Every hostile file the cases refer to, under `tmp`."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "garbage.bin").write_bytes(os.urandom(4096))
    (tmp / "garbage.jsonl").write_bytes(os.urandom(4096))
    write_model(tmp / "model.tar.gz")
    (tmp / "empty.tar.gz").write_bytes(b"")
    (tmp / "bad.json").write_text("{not json")
    (tmp / "list.json").write_text("[1, 2, 3]")
    (tmp / "huge.json").write_text(json.dumps({"s3_bucket": "scones", "s3_key": "k" * 8_000_000}))
    (tmp / "notasl.json").write_text(json.dumps({"StartAt": "Nowhere", "States": {"A": {"Type": "Banana"}}}))
    (tmp / "image.png").write_bytes(png_bytes())
    (tmp / "policy-typo.toml").write_text("[gates]\nmargn = 0.1\n")
    (tmp / "policy-every.toml").write_text('[triggers]\nevery = "soon"\n')
    (tmp / "notimage.png").write_bytes(b"this is not a png")
    _photo_folders(tmp)
    (tmp / "nonempty").mkdir(exist_ok=True)
    (tmp / "nonempty" / "keep.txt").write_text("mine")
    small_archive(tmp / "cifar.tar.gz")  # a valid CIFAR-100 python archive holding bicycle and motorcycle
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
STAGE = ["stage", "--source", f"{T}/cifar.tar.gz"]  # valid: the small archive holds both classes
TRAIN = ["train", "-p", "epochs=1", "-p", "width=4", "-p", "mini_batch_size=16"]  # valid and quick once staged
TRANSFORM = [
    "transform",
    "--model",
    f"{T}/model.tar.gz",
    "--input",
    "s3://scones/photos",
    "--output",
    "s3://scones/out",
]  # valid once the photos are in the store
EXPORT = ["aws", "export", f"{T}/export", "--account", "123456789012", "--model", f"{T}/model.tar.gz"]
SIX_VARIANTS = [a for i in range(6) for a in ("--variant", f"V{i}={T}/model.tar.gz")]  # SageMaker's alarms allow 5
# deploy's rollout and scaling flags are checked before any AWS call, so no credentials are needed
DEPLOY = ["aws", "deploy", "--bucket", "scones-bad-input", "--region", "us-east-1", "--model", f"{T}/model.tar.gz"]
CASES: list[Case] = [
    # global options
    Case("storage-unknown", ["--storage", "ftp", "endpoints"], "--storage ftp", "expected one of local, s3"),
    Case("home-is-a-file", ["--home", f"{T}/garbage.bin", "endpoints"], "--home pointing at a file",
         "Cannot create the scones home"),
    Case("bucket-invalid", ["--bucket", "Bad_Bucket!", *STAGE], "--bucket Bad_Bucket!",
         "Invalid bucket name 'Bad_Bucket!'"),
    Case("s3-unreachable", ["--storage", "s3", "--s3-endpoint-url", "http://127.0.0.1:9", *STAGE],
         "--storage s3 with nothing listening at the endpoint URL", "check that the store is reachable"),
    # stage 1
    Case("stage-missing-source", ["stage", "--source", f"{T}/nope.tar.gz"], "--source a file that does not exist",
         "No source at"),
    Case("stage-garbage-source", ["stage", "--source", f"{T}/garbage.bin"], "--source 4 KB of random bytes",
         "is not a readable tar archive (invalid header)"),
    Case("stage-empty-source", ["stage", "--source", f"{T}/empty.tar.gz"], "--source an empty file",
         "is not a readable tar archive (empty file)"),
    Case("stage-tar-traversal", ["stage", "--source", f"{T}/traversal.tar.gz"],
         "tar with ../../ and absolute members and a symlink to /etc/passwd", "has an unsafe member name",
         untouched=("escaped.txt",)),
    Case("stage-malicious-pickle", ["stage", "--source", f"{T}/pickle.tar.gz"],
         "CIFAR members that are pickles calling os.system", "global posix.system is not allowed",
         untouched=("pwned",)),
    Case("stage-declared-huge", ["stage", "--source", f"{T}/declared-huge.tar.gz"],
         "tar member declaring 10 GB, 1 KB present", "too large for CIFAR-100"),
    Case("stage-bad-classes", [*STAGE, "--classes", ""], "--classes ''", "No classes given"),
    Case("stage-prefix-escape", [*STAGE, "--prefix", "../../etc"], "--prefix ../../etc (escapes the bucket)",
         "Refused object key '../../etc'"),
    Case("stage-bucket-escape", [*STAGE, "--bucket", "../x"], "--bucket ../x", "Invalid bucket name '../x'"),
    Case("stage-photos-truncated", ["stage", "--source", f"{T}/photos-bad"], "image folder with a truncated JPEG",
         "truncated or corrupt"),
    Case("stage-photos-bomb", ["stage", "--source", f"{T}/photos-bomb"], "image folder with a 20000x20000 PNG bomb",
         "decompression bomb"),
    Case("stage-photos-one-class", ["stage", "--source", f"{T}/photos-one-class"], "image folder with one class",
         "has 1 class; scones trains on 2 to 1000 classes"),
    Case("stage-photos-leak", ["stage", "--source", f"{T}/photos-leak"], "the same JPEG in train/ and test/",
         "is in both train and test"),
    Case("stage-test-fraction", ["stage", "--source", f"{T}/photos-leak/train", "--test-fraction", "1.5"],
         "--test-fraction 1.5", "--test-fraction 1.5 is out of range"),
    Case("stage-garbage-manifest", ["stage", "--source", f"{T}/garbage.manifest"],
         "augmented manifest of 4 KB random bytes", "is not UTF-8 text"),
    # stage 2a
    Case("train-hp-not-number", [*TRAIN, "-p", "epochs=abc"], "-p epochs=abc", "expected an integer",
         setup=("staged",)),
    Case("train-hp-unknown", [*TRAIN, "-p", "colour=blue"], "-p colour=blue (unknown hyperparameter)",
         "Unknown hyperparameter colour", setup=("staged",)),
    Case("train-hp-no-equals", [*TRAIN, "-p", "epochs"], "-p epochs (no =)", "is not KEY=VALUE",
         setup=("staged",)),
    Case("train-hp-negative", [*TRAIN, "-p", "learning_rate=-1"], "-p learning_rate=-1",
         "learning_rate=-1.0 is invalid", setup=("staged",)),
    Case("train-no-data", [*TRAIN, "--data", "s3://scones/nothing-here"], "--data a prefix with no staged data",
         "No label list at s3://scones/nothing-here/train.lst", setup=("staged",)),
    Case("train-data-escape", [*TRAIN, "--data", "s3://scones/../../etc"], "--data s3://scones/../../etc",
         "Refused object key '../../etc'", setup=("staged",)),
    Case("train-name-invalid", [*TRAIN, "--name", "bad name/../x"], "--name 'bad name/../x'",
         "Training job name 'bad name/../x' is invalid", setup=("staged",)),
    Case("train-pretrain-no-other-classes", [*TRAIN, "-p", "pretrain_on_other_classes=1"],
         "-p pretrain_on_other_classes=1 on data staged from an image folder",
         "pretrain_on_other_classes=1 needs data staged from a CIFAR-100 archive with other classes",
         setup=("staged-folder",)),
    Case("train-pretrain-and-weights", [*TRAIN, "-p", "pretrain_on_other_classes=1", "-p", "use_pretrained_model=1",
                                        "-p", f"pretrained_weights={T}/w.pt"],
         "-p pretrain_on_other_classes=1 beside use_pretrained_model=1", "use_pretrained_model=0",
         setup=("staged",)),
    Case("pretrain-unknown-target", ["pretrain", "--source", f"{T}/cifar.tar.gz", "--classes", "unicycle"],
         "--classes a target not in the archive", "Unknown target class 'unicycle'"),
    Case("pretrain-missing-source", ["pretrain", "--source", f"{T}/nope.tar.gz"], "--source a missing archive",
         "No source at"),
    Case("pretrain-folder-source", ["pretrain", "--source", f"{T}/photos-one-class"], "--source an image folder",
         "is a folder, not a CIFAR-100 python archive"),
    Case("pretrain-hp-invalid", ["pretrain", "--source", f"{T}/cifar.tar.gz", "-p", "epochs=0"], "-p epochs=0",
         "epochs=0 is invalid"),
    Case("describe-job-unknown", ["describe-training-job", "nope"], "a job that does not exist",
         "no training job nope"),
    Case("evaluate-model-missing", ["evaluate", "--model", f"{T}/nope.tar.gz"], "--model a missing file",
         "No model at", setup=("staged",)),
    Case("evaluate-model-pickle", ["evaluate", "--model", f"{T}/model-pickle.tar.gz"],
         "--model a tar holding a malicious pickle", "has no model.onnx", setup=("staged",), untouched=("pwned",)),
    # stage 2b
    Case("serve-model-garbage", ["serve", "--model", f"{T}/garbage.bin"], "--model random bytes",
         "is not a readable model.tar.gz"),
    Case("serve-model-symlink", ["serve", "--model", f"{T}/model-symlink.tar.gz"],
         "model.tar.gz whose manifest.json is a symlink to /etc/passwd", "has no manifest.json"),
    Case("serve-model-pickle", ["serve", "--model", f"{T}/model-pickle.tar.gz"],
         "model.tar.gz with a pickle instead of model.onnx", "has no model.onnx", untouched=("pwned",)),
    Case("serve-model-bad-manifest", ["serve", "--model", f"{T}/model-bad-manifest.tar.gz"],
         "manifest.json that is not JSON", "manifest.json is not valid JSON"),
    Case("serve-model-garbage-onnx", ["serve", "--model", f"{T}/model-garbage-onnx"],
         "model folder whose model.onnx is random bytes", "does not match the sha256"),
    Case("serve-model-s3-escape", ["serve", "--model", "s3://scones/../../etc/passwd"],
         "--model s3://scones/../../etc/passwd", "Refused object key '../../etc/passwd'"),
    Case("serve-port-range", ["serve", "--model", f"{T}/model.tar.gz", "--port", "70000"], "--port 70000",
         "Port 70000 is out of range"),
    Case("serve-threads-negative", ["serve", "--model", f"{T}/model.tar.gz", "--threads", "-1"], "--threads -1",
         "threads must be 0 (one per core) or more"),
    Case("serve-port-text", ["serve", "--model", f"{T}/model.tar.gz", "--port", "eighty"], "--port eighty",
         "Invalid value for '--port'", outcome="usage"),
    Case("serve-token-file-missing", ["serve", "--model", f"{T}/model.tar.gz", "--auth-token-file", f"{T}/nope"],
         "--auth-token-file a missing file", "Cannot read --auth-token-file"),
    Case("deploy-name-invalid", ["deploy", "--model", f"{T}/model.tar.gz", "--name", "no_underscores"],
         "--name no_underscores", "Endpoint name 'no_underscores' is not valid"),
    Case("deploy-capture-percent", ["deploy", "--model", f"{T}/model.tar.gz", "--capture-percent", "150"],
         "--capture-percent 150", "Capture percent is 150.0"),
    Case("deploy-capture-destination", ["deploy", "--model", f"{T}/model.tar.gz",
                                        "--capture-destination", "file:///etc"], "--capture-destination file:///etc",
         "is not an s3:// URI"),
    Case("deploy-capture-escape", ["deploy", "--model", f"{T}/model.tar.gz", "--port", "0", "--capture-percent",
                                   "100", "--capture-destination", "s3://scones/../../etc"],
         "--capture-destination s3://scones/../../etc", "Refused object key '../../etc'"),
    Case("deploy-model-missing", ["deploy", "--model", f"{T}/nope.tar.gz"], "--model a missing file", "No model at"),
    Case("deploy-token-file-empty", ["deploy", "--model", f"{T}/model.tar.gz", "--auth-token-file",
                                     f"{T}/empty.tar.gz"], "--auth-token-file an empty file",
         "must hold the token alone on one line"),
    Case("invoke-no-endpoint", ["invoke", "nope", f"{T}/image.png"], "an endpoint that does not exist",
         "No endpoint named 'nope'"),
    Case("invoke-missing-file", ["invoke", "ep", f"{T}/nope.png"], "an image file that does not exist",
         "No such file", setup=("endpoint",)),
    Case("transform-model-missing", [*TRANSFORM[:2], f"{T}/nope.tar.gz", *TRANSFORM[3:]], "--model a missing file",
         "No model at", setup=("photos",)),
    Case("transform-model-garbage-onnx", [*TRANSFORM[:2], f"{T}/model-garbage-onnx", *TRANSFORM[3:]],
         "--model whose model.onnx is random bytes", "does not match the sha256", setup=("photos",)),
    Case("transform-input-empty", [*TRANSFORM[:4], "s3://scones/nothing", *TRANSFORM[5:]],
         "--input a prefix with no objects", "No objects under s3://scones/nothing", setup=("photos",)),
    Case("transform-input-not-s3", [*TRANSFORM[:4], f"{T}/photos-bad", *TRANSFORM[5:]], "--input a local folder",
         "Not an s3:// URI", setup=("photos",)),
    Case("transform-output-inside-input", [*TRANSFORM[:6], "s3://scones/photos/out"],
         "--output under the --input prefix", "is inside --input", setup=("photos",)),
    Case("transform-batch-size", [*TRANSFORM, "--batch-size", "0"], "--batch-size 0", "--batch-size 0 is invalid",
         setup=("photos",)),
    Case("transform-accept", [*TRANSFORM, "--accept", "text/csv"], "--accept text/csv",
         "--accept 'text/csv' is not supported", setup=("photos",)),
    Case("transform-corrupt-input", [*TRANSFORM[:4], "s3://scones/photos-bad", *TRANSFORM[5:]],
         "--input holding only a truncated JPEG", "1 of 1 inputs could not be classified", setup=("photos",)),
    Case("describe-endpoint-unknown", ["describe-endpoint", "nope"], "an endpoint that does not exist",
         "No endpoint named 'nope'"),
    Case("delete-endpoint-unknown", ["delete-endpoint", "nope"], "an endpoint that does not exist",
         "No endpoint named 'nope'"),
    Case("update-endpoint-unknown", ["update-endpoint", "nope", "--model", f"{T}/model.tar.gz"],
         "an endpoint that does not exist", "No endpoint named 'nope'"),
    Case("deploy-scaling-no-target", ["deploy", "--model", f"{T}/model.tar.gz", "--max-workers", "3"],
         "--max-workers without a target", "Scaling needs both --max-workers N and --target-invocations-per-worker"),
    Case("deploy-scaling-max-below-min", ["deploy", "--model", f"{T}/model.tar.gz", "--min-workers", "2",
                                          "--max-workers", "2", "--target-invocations-per-worker", "600"],
         "--max-workers equal to --min-workers", "--max-workers is 2; give more than --min-workers (2)"),
    Case("update-endpoint-no-baseline", ["update-endpoint", "ep", "--model", f"{T}/model.tar.gz", "--strategy",
                                         "canary", "--max-monitor-violations", "0"],
         "a monitor trigger with no baseline", "No monitoring baseline for ep", setup=("endpoint",)),
    Case("update-endpoint-compare-share", ["update-endpoint", "ep", "--model", f"{T}/model.tar.gz", "--strategy",
                                           "canary", "--compare-percent", "150"],
         "--compare-percent 150", "--compare-percent is 150; give 0 to 100", setup=("endpoint",)),
    Case("testcases-negative", ["testcases", "--count", "-3"], "--count -3", "--count must be at least 1",
         setup=("staged",)),
    Case("testcases-huge", ["testcases", "--count", "1000000000000"], "--count 10^12",
         "is more than 100000 test cases", setup=("staged",)),
    Case("testcases-nothing-staged", ["testcases"], "nothing staged", "run 'scones stage' first"),
    # stage 3: functions (Lambda error documents) and workflows
    Case("function-unknown", ["functions", "invoke", "nope"], "a function that does not exist",
         "No function named 'nope'"),
    Case("function-bad-json", ["functions", "invoke", "filter_inferences", "--payload", "{bad"], "--payload '{bad'",
         "The payload is not JSON"),
    Case("function-missing-file", ["functions", "invoke", "filter_inferences", "--payload", f"@{T}/nope.json"],
         "--payload @missing.json", "Cannot read payload file"),
    Case("function-event-list", ["functions", "invoke", "serialize_image_data", "--payload", f"@{T}/list.json"],
         "event that is a JSON list", "Event must be a JSON object", outcome="lambda", error_type="InvalidEvent"),
    Case("function-key-escape", ["functions", "invoke", "serialize_image_data", "--payload",
                                 '{"s3_bucket": "scones", "s3_key": "../../../etc/passwd"}'],
         "s3_key ../../../etc/passwd", "Refused object key '../../../etc/passwd'", outcome="lambda",
         error_type="InvalidKey"),
    Case("function-bucket-escape", ["functions", "invoke", "serialize_image_data", "--payload",
                                    '{"s3_bucket": "..", "s3_key": "data/test/x.png"}'],
         "s3_bucket ..", "Invalid bucket name '..'", outcome="lambda", error_type="InvalidKey"),
    Case("function-wrong-types", ["functions", "invoke", "serialize_image_data", "--payload",
                                  '{"s3_bucket": 7, "s3_key": "data/test/x.png"}'],
         "s3_bucket 7", "'s3_bucket' must be a non-empty string", outcome="lambda", error_type="InvalidEvent"),
    Case("function-huge-event", ["functions", "invoke", "serialize_image_data", "--payload", f"@{T}/huge.json"],
         "an 8 MB event (key of 8 million characters)", "(8000002 characters): longer than 1024 bytes",
         outcome="lambda", error_type="InvalidKey"),
    Case("function-bad-base64", ["functions", "invoke", "classify_image", "--payload",
                                 '{"body": {"image_data": "***", "s3_bucket": "b", "s3_key": "k"}}'],
         "image_data that is not base64", "is not valid base64", outcome="lambda", error_type="InvalidEvent"),
    Case("function-body-not-json", ["functions", "invoke", "filter_inferences", "--payload", '{"body": "{oops"}'],
         "body that is a string but not JSON", "is a string that is not JSON", outcome="lambda",
         error_type="InvalidEvent"),
    Case("function-inferences-strings", ["functions", "invoke", "filter_inferences", "--payload",
                                         '{"inferences": ["0.99", true]}'],
         "inferences ['0.99', true]", "must be a non-empty list of probabilities", outcome="lambda",
         error_type="InvalidEvent"),
    Case("workflow-definition-not-json", ["workflow", "create", "m", "--definition", f"{T}/bad.json"],
         "--definition a file that is not JSON", "The definition is not JSON"),
    Case("workflow-definition-not-asl", ["workflow", "create", "m", "--definition", f"{T}/notasl.json"],
         "--definition JSON with a state of Type Banana", "Invalid state machine definition"),
    Case("workflow-function-no-equals", ["workflow", "create", "m", "--function", "oops"], "--function oops",
         "write it as AWS_NAME=serialize_image_data"),
    Case("workflow-name-invalid", ["workflow", "create", "../../m"], "state machine name ../../m",
         "Invalid state machine name '../../m'"),
    Case("workflow-start-unknown", ["workflow", "start-execution", "nope"], "a machine that does not exist",
         "No state machine 'nope'"),
    Case("workflow-start-bad-input", ["workflow", "start-execution", "m", "--input", "{bad"], "--input '{bad'",
         "The input is not JSON", setup=("machine",)),
    Case("workflow-start-bad-type", ["workflow", "start-execution", "m", "--type", "FAST"], "--type FAST",
         "Unknown execution type 'FAST'", setup=("machine",)),
    Case("workflow-describe-unknown", ["workflow", "describe-execution", "nope"], "an execution that does not exist",
         "No execution 'nope'"),
    Case("workflow-history-unknown", ["workflow", "get-execution-history", "nope"],
         "an execution that does not exist", "No execution 'nope'"),
    Case("workflow-graph-unknown", ["workflow", "graph", "nope"], "a machine that does not exist",
         "No state machine 'nope'"),
    Case("workflow-testcases-negative", ["workflow", "run-testcases", "m", "--count", "-1"], "--count -1",
         "--count must be at least 1", setup=("staged", "machine")),
    Case("workflow-testcases-huge", ["workflow", "run-testcases", "m", "--count", "1000000000000"], "--count 10^12",
         "is more than 100000 test cases", setup=("staged", "machine")),
    Case("workflow-testcases-processes", ["workflow", "run-testcases", "m", "--processes", "0"], "--processes 0",
         "--processes must be at least 1", setup=("staged", "machine")),
    Case("workflow-list-unknown", ["workflow", "list-executions", "nope"], "a machine that does not exist",
         "No state machine 'nope'"),
    # stage 4: monitor
    Case("monitor-since-garbage", ["monitor", "run", "--since", "last tuesday"], "--since 'last tuesday'",
         "is neither ISO-8601"),
    Case("monitor-run-no-baseline", ["monitor", "run"], "no baseline made yet", "No baseline file"),
    Case("monitor-plot-garbage", ["monitor", "plot", "--capture", f"{T}/garbage.jsonl", "--out", f"{T}/plots"],
         "--capture a .jsonl file of random bytes", "No readable captured records", untouched=("plots",)),
    Case("monitor-plot-not-capture", ["monitor", "plot", "--capture", f"{T}/list.json", "--out", f"{T}/plots"],
         "--capture a JSON file that is not captured data", "no captureData object", untouched=("plots",)),
    Case("monitor-plot-missing", ["monitor", "plot", "--capture", f"{T}/nope", "--out", f"{T}/plots"],
         "--capture a missing folder", "No captured data at", untouched=("plots",)),
    Case("monitor-baseline-missing-model", ["monitor", "baseline", "--model", f"{T}/nope.tar.gz"],
         "--model a missing file", "No model at", setup=("staged",)),
    Case("monitor-baseline-output-escape", ["monitor", "baseline", "--model", f"{T}/model.tar.gz", "--output",
                                            "s3://scones/../../x"], "--output s3://scones/../../x",
         "Cannot write the baseline to --output", setup=("staged",)),
    Case("monitor-schedule-every", ["monitor", "schedule", "--every", "banana"], "--every banana",
         "Interval 'banana' is not a duration"),
    Case("monitor-schedule-zero", ["monitor", "schedule", "--every", "0s"], "--every 0s",
         "Interval '0s' is not a duration"),
    # stage 5: review (setup "review": endpoint ep with item req-1 in its queue)
    Case("review-list-unknown-endpoint", ["review", "list", "nope"], "an endpoint never deployed",
         "Unknown endpoint 'nope'"),
    Case("review-list-bad-status", ["review", "list", "ep", "--status", "done"], "--status done",
         "Unknown status 'done'", setup=("review",)),
    Case("review-refresh-share", ["review", "refresh", "ep", "--sample-confident", "2"], "--sample-confident 2",
         "give a share between 0 and 1", setup=("review",)),
    Case("review-refresh-store-unreachable", ["--storage", "s3", "--s3-endpoint-url", "http://127.0.0.1:9", "review",
                                              "refresh", "ep"], "--storage s3 with nothing listening",
         "Cannot list captured data at s3://scones/data_capture/ep", setup=("review",)),
    Case("review-label-unknown-id", ["review", "label", "ep", "nope", "bicycle"], "an id not in the queue",
         "Unknown item id 'nope'", setup=("review",)),
    Case("review-label-unknown-class", ["review", "label", "ep", "req-1", "car"], "CLASS car",
         "Unknown class 'car' for ep; give one of 0=bicycle, 1=motorcycle", setup=("review",)),
    Case("review-label-class-index", ["review", "label", "ep", "req-1", "2"], "CLASS 2 (two classes)",
         "Unknown class '2'", setup=("review",)),
    Case("review-skip-unknown-id", ["review", "skip", "ep", "nope"], "an id not in the queue",
         "Unknown item id 'nope'", setup=("review",)),
    Case("review-undo-nothing", ["review", "undo", "ep", "req-1"], "an item never labelled",
         "has no label or skip to undo", setup=("review",)),
    Case("review-import-missing", ["review", "import", "ep", f"{T}/nope.csv"], "FILE missing",
         "Cannot read the label file", setup=("review",)),
    Case("review-import-garbage", ["review", "import", "ep", f"{T}/garbage.bin"], "FILE of random bytes",
         "is not UTF-8 text", setup=("review",)),
    Case("review-import-bad-line", ["review", "import", "ep", f"{T}/labels-bad-line.csv"],
         "a CSV with one line not 'id,label'", "line 3", setup=("review",)),
    Case("review-import-not-labels", ["review", "import", "ep", f"{T}/list.json"], "a JSON file that is not labels",
         "write CSV lines 'id,label' or SageMaker ground-truth JSONL", setup=("review",)),
    Case("review-import-unknown-id", ["review", "import", "ep", f"{T}/labels-unknown-id.csv"],
         "a CSV naming one id not in the queue (nothing is labelled)", "Unknown item id 'nope'", setup=("review",)),
    # stage 7: the review loop (dataset versions from reviews, retraining, the loop policy)
    Case("add-reviewed-unknown-endpoint", ["dataset", "add-reviewed", "nope"], "an endpoint that does not exist",
         "No endpoint named 'nope'"),
    Case("add-reviewed-test-share", ["dataset", "add-reviewed", "ep", "--test-share", "1.5"], "--test-share 1.5",
         "--test-share 1.5 is out of range", setup=("endpoint", "staged")),
    Case("add-reviewed-into-bucket", ["dataset", "add-reviewed", "ep", "--into", "s3://scones"],
         "--into s3://scones (a bucket, no prefix)", "names a bucket, not a dataset", setup=("endpoint", "staged")),
    Case("add-reviewed-nothing-labelled", ["dataset", "add-reviewed", "ep"], "an endpoint with no labelled item",
         "No reviewed images for ep", setup=("endpoint", "staged")),
    Case("retrain-unknown-endpoint", ["retrain", "nope"], "an endpoint that does not exist",
         "No endpoint named 'nope'"),
    Case("retrain-no-dataset", ["retrain", "ep"], "an endpoint with no reviewed dataset version",
         "No reviewed dataset for ep", setup=("endpoint",)),
    Case("retrain-missing-dataset", ["retrain", "ep", "--dataset", "s3://scones/nothing"],
         "--dataset a prefix with nothing staged", "No dataset manifest at s3://scones/nothing", setup=("endpoint",)),
    Case("retrain-margin", ["retrain", "ep", "--margin", "2"], "--margin 2", "must be accuracy differences in [0, 1]"),
    Case("retrain-epochs", ["retrain", "ep", "--epochs", "0"], "--epochs 0", "--epochs 0 must be at least 1"),
    Case("retrain-strategy", ["retrain", "ep", "--strategy", "yolo"], "--strategy yolo",
         "Strategy 'yolo' is not one of"),
    Case("loop-policy-missing", ["loop", "run", "ep", "--policy", f"{T}/nope.toml"], "--policy a missing file",
         "No loop policy at"),
    Case("loop-policy-not-toml", ["loop", "run", "ep", "--policy", f"{T}/bad.json"], "--policy '{not json'",
         "is not valid TOML"),
    Case("loop-policy-unknown-key", ["loop", "run", "ep", "--policy", f"{T}/policy-typo.toml"],
         "--policy with [gates] margn = 0.1", "unknown key 'margn' in [gates]"),
    Case("loop-policy-bad-every", ["loop", "run", "ep", "--policy", f"{T}/policy-every.toml"],
         "--policy with [triggers] every = 'soon'", "Interval 'soon' is not a duration"),
    Case("loop-unknown-endpoint", ["loop", "run", "nope"], "an endpoint that does not exist",
         "Unknown endpoint 'nope'"),
    Case("monitor-schedule-loop-policy", ["monitor", "schedule", "--loop-policy", f"{T}/nope.toml"],
         "--loop-policy a missing file", "No loop policy at"),
    # console and AWS (no network: a given account skips STS)
    Case("console-port-range", ["console", "--port", "70000"], "--port 70000", "less than or equal to 65535",
         outcome="usage"),
    Case("console-no-auth-wide", ["console", "--host", "0.0.0.0", "--no-auth"], "--no-auth with --host 0.0.0.0",
         "--no-auth is refused with --host 0.0.0.0"),
    Case("console-token-file-missing", ["console", "--auth-token-file", f"{T}/nope"],
         "--auth-token-file a missing file", "Cannot read --auth-token-file"),
    Case("aws-export-nonempty", [*EXPORT[:2], f"{T}/nonempty", *EXPORT[3:]], "an export folder that is not empty",
         "exists and is not an empty folder"),
    Case("aws-export-bad-strategy", [*EXPORT, "--strategy", "blue"], "--strategy blue",
         "Strategy 'blue' is not one of all-at-once, canary, linear"),
    Case("aws-export-max-instances", [*EXPORT, "--instance-count", "3", "--max-instances", "2"],
         "--max-instances below --instance-count", "--max-instances is 2; give 3 (the minimum) to 100"),
    Case("aws-export-variant-and-model", [*EXPORT, "--variant", f"Blue={T}/model.tar.gz"],
         "--variant NAME=MODEL beside --model", "Give --model (one variant, AllTraffic) or --variant",
         untouched=("export",)),
    Case("aws-export-variant-no-model", [*EXPORT[:5], "--variant", "Blue"], "--variant Blue (no =MODEL)",
         "'Blue' is not NAME=MODEL[:WEIGHT]", untouched=("export",)),
    Case("aws-export-six-variants", [*EXPORT[:5], *SIX_VARIANTS],
         "six --variant options", "At most 5 production variants on AWS", untouched=("export",)),
    Case("aws-deploy-bad-strategy", [*DEPLOY, "--strategy", "blue"], "--strategy blue",
         "Strategy 'blue' is not one of all-at-once, canary, linear"),
    Case("aws-deploy-canary-percent", [*DEPLOY, "--canary-percent", "100"], "--canary-percent 100",
         "--canary-percent is 100; give a share of capacity between 0 and 100"),
    Case("aws-deploy-bake-seconds", [*DEPLOY, "--bake-seconds", "4000"], "--bake-seconds 4000",
         "--bake-seconds is 4000; SageMaker takes 0 to 3600 seconds"),
    Case("aws-deploy-max-instances", [*DEPLOY, "--instance-count", "3", "--max-instances", "2"],
         "--max-instances below --instance-count", "--max-instances is 2; give 3 (the minimum) to 100"),
    Case("aws-deploy-target-invocations", [*DEPLOY, "--target-invocations-per-instance", "0"],
         "--target-invocations-per-instance 0", "--target-invocations-per-instance must be more than 0"),
    Case("aws-export-bad-bucket", [*EXPORT, "--bucket", "Bad_Bucket!"], "--bucket Bad_Bucket!",
         "Invalid bucket name 'Bad_Bucket!'", untouched=("export",)),
    Case("aws-export-bad-account", [*EXPORT[:4], "me", *EXPORT[5:]], "--account me",
         "Account 'me' is not a 12-digit AWS account id", untouched=("export",)),
    Case("aws-export-bad-region", [*EXPORT, "--region", "moon-1"], "--region moon-1",
         "Region 'moon-1' is not an AWS region name", untouched=("export",)),
    Case("aws-export-garbage-model", [*EXPORT[:6], f"{T}/garbage.bin"], "--model random bytes",
         "is not a readable model.tar.gz", untouched=("export",)),
]  # fmt: skip


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    exception: BaseException | None
    left: list[str] = field(default_factory=list)  # objects or rows the command added to the home


def _setup(kind: str, tmp: Path) -> None:
    """Make the rest of a command valid: what `Case.setup` names, through the stages' own APIs."""
    from scones.config import load_settings
    from scones.storage import Store

    settings = load_settings()
    if kind == "staged":
        from scones.data.stage import stage

        stage(Store(settings), tmp / "cifar.tar.gz")
    elif kind == "staged-folder":  # an image folder's classes: no archive with other classes behind them
        from scones.data.stage import stage
        from tests.data.photos import cifar_rows, jpeg

        for i, row in enumerate(cifar_rows(6, seed=22)):
            folder = tmp / "photos-good" / ("cat", "dog")[i % 2]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i}.jpg").write_bytes(jpeg(row, (96, 96)))
        stage(Store(settings), tmp / "photos-good")
    elif kind == "photos":
        from tests.data.photos import cifar_rows, jpeg, truncated

        Store(settings).put(settings.bucket, "photos/red.png", png_bytes())
        Store(settings).put(settings.bucket, "photos-bad/cut.jpg", truncated(jpeg(cifar_rows(1)[0], (96, 96))))
    elif kind == "machine":
        from scones.workflow import machines

        machines.create(settings, "m", machines.pipeline_definition())
    elif kind == "endpoint":
        from scones.endpoint import registry
        from scones.endpoint.service import EndpointConfig

        Store(settings).put(settings.bucket, "models/m/model.tar.gz", (tmp / "model.tar.gz").read_bytes())
        registry.deploy(settings, EndpointConfig(name="ep", port=0), f"s3://{settings.bucket}/models/m/model.tar.gz")
        _wait_for_worker_ack(settings, "ep")
    elif kind == "review":
        from scones.review import queue
        from tests.review.support import capture, register

        register(settings)
        capture(Store(settings), [0.6], inference_ids=["req-1"])
        queue.refresh(settings, "ep")


def _wait_for_worker_ack(settings: Settings, name: str) -> None:
    """The worker acknowledges its model just after /ping answers; the snapshot must not count that row."""
    import time

    from scones import state
    from scones.endpoint import table

    deadline = time.monotonic() + 30
    conn = state.connect(settings)
    try:
        while not table.acknowledgements(conn, name):
            if time.monotonic() > deadline:
                raise AssertionError(f"endpoint {name} never acknowledged its model")
            time.sleep(0.05)
    finally:
        conn.close()


def _teardown(case: Case) -> None:
    if "endpoint" in case.setup:
        from scones.config import load_settings
        from scones.endpoint import registry

        registry.delete(load_settings(), "ep")


def run_case(case: Case, tmp: Path) -> Outcome:
    """Set up, snapshot the home, run the command line; `Outcome.stderr` notes anything it left behind."""
    for kind in case.setup:
        _setup(kind, tmp)
    home = Path(os.environ["SCONES_HOME"])
    before = contents(home)
    argv = [a.replace(T, str(tmp)) for a in case.argv]
    try:
        result = CliRunner().invoke(app, argv)
        left = sorted(set(contents(home).items()) - set(before.items()))
    finally:
        _teardown(case)
    exception = result.exception if not isinstance(result.exception, SystemExit) else None
    return Outcome(result.exit_code, result.stdout, result.stderr, exception, [f"{k}: {v}" for k, v in left])


def contents(home: Path) -> dict[str, int]:
    """Each object in the home's buckets (its size) and each table of its state database (its rows)."""
    import sqlite3

    found = {str(p.relative_to(home)): p.stat().st_size for p in (home / "buckets").rglob("*") if p.is_file()}
    if (home / "state.db").is_file():
        with sqlite3.connect(home / "state.db") as conn:
            for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
                # A monitoring execution that failed is recorded Failed, as SageMaker lists it: that is a
                # result, not a half-written one. Any other row is.
                where = " WHERE status != 'Failed'" if table == "monitoring_executions" else ""
                rows = conn.execute(f'SELECT COUNT(*) FROM "{table}"{where}').fetchone()[0]  # noqa: S608 (names from sqlite_master)
                if rows:
                    found[f"rows in {table}"] = rows
        conn.close()
    return found


def _unboxed(text: str) -> str:
    """Click/Rich usage errors come in a box wrapped over lines: one line of plain words."""
    return " ".join(line.strip(" │╭╮╰╯─") for line in text.splitlines() if line.strip(" │╭╮╰╯─"))


def verdict(case: Case, outcome: Outcome, tmp: Path) -> str:
    """'' when the outcome is what the case demands, else what went wrong."""
    if outcome.exception is not None:
        return f"uncaught {type(outcome.exception).__name__}: {outcome.exception}"
    if outcome.left:
        return f"left behind: {outcome.left}"
    text = outcome.stdout + outcome.stderr
    if "Traceback" in text:
        return "a traceback was printed"
    for name in case.untouched:
        if (tmp / name).exists():
            return f"{name} was written"
    if case.outcome == "usage":
        if outcome.code != 2:
            return f"exit {outcome.code}, expected a usage error (2)"
        return "" if case.expect in _unboxed(text) else f"the usage error does not say {case.expect!r}"
    if outcome.code != 1:
        return f"exit {outcome.code}, expected 1"
    if case.outcome == "lambda":
        document = json.loads(outcome.stdout)
        if document.get("errorType") != case.error_type:
            return f"errorType {document.get('errorType')}, expected {case.error_type}"
        message = str(document.get("errorMessage"))
        return "" if case.expect in message else f"errorMessage {message[:200]!r} does not say {case.expect!r}"
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("Error:")]
    if len(errors) != 1 or not outcome.stderr.strip().endswith(errors[0] if errors else "\0"):
        return f"expected one 'Error:' line last on stderr, got {outcome.stderr!r}"
    return "" if case.expect in errors[0] else f"{errors[0][:200]!r} does not say {case.expect!r}"


@pytest.fixture(scope="module")
def tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile")
    hostile_files(path)
    return path


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp: Path) -> None:
    outcome = run_case(case, tmp)
    assert verdict(case, outcome, tmp) == "", (outcome.code, outcome.stdout[-2000:], outcome.stderr[-2000:])


# -- the table in docs/reliability.md, rendered from CASES -------------------------------------------
DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BEGIN = "<!-- bad-input table: generated by `python -m tests.cli.test_bad_input --write`; do not edit -->"
END = "<!-- end of the bad-input table -->"


def table() -> str:
    """The cases as a markdown table: command, what was tried, set-up, exit and the error named."""
    rows = [f"{len(CASES)} cases.", "", "| command | input tried | set up first | exit | the error must say |",
            "|---|---|---|---|---|"]  # fmt: skip
    for case in CASES:
        command = " ".join(a.replace(f"{T}/", "") if len(a) < 60 else a[:40] + "…" for a in case.argv)
        exit_code = 2 if case.outcome == "usage" else 1
        said = f"{case.error_type}: …{case.expect}…" if case.outcome == "lambda" else f"…{case.expect}…"
        cells = [f"`scones {command}`", case.tried, ", ".join(case.setup) or "-", str(exit_code), said]
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join([BEGIN, *rows, END])


def test_the_reliability_doc_shows_exactly_these_cases() -> None:
    text = DOC.read_text()
    assert BEGIN in text and END in text, f"{DOC} lost its table markers"
    shown = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert shown == table(), "docs/reliability.md is stale: run python -m tests.cli.test_bad_input --write"


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        text = DOC.read_text()
        DOC.write_text(text[: text.index(BEGIN)] + table() + text[text.index(END) + len(END) :])
    else:
        print(table())
