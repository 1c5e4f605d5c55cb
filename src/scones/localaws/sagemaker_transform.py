"""SageMaker batch transform jobs (CreateTransformJob, Describe, List, Stop) run by `scones transform`'s core.

CreateTransformJob checks the request, records the job and runs `scones.endpoint.transform.run`
in a worker thread of `scones up` with the model's ModelDataUrl artifact (a model made with
CreateModel), `TransformInput.DataSource.S3DataSource.S3Uri` (S3Prefix) as the input and
`TransformOutput.S3OutputPath` as the output: one `<name>.out` per input, byte for byte what
`scones transform` writes. Its log lines go to `/aws/sagemaker/TransformJobs`, stream `<job>/local-<epoch>`.

TransformJobStatus InProgress -> Completed, Failed or Stopping -> Stopped. A corrupt input does
not stop the others (all good inputs get their `.out`), but the job ends Failed, as SageMaker's
does when the model rejects a record, with a FailureReason naming every such input: a
Completed job means every input was answered, as with `scones transform`'s exit status.
StopTransformJob stops after the running batch; re-creating the job under a new name with the
same output finishes only the unanswered inputs.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from scones.config import Settings
from scones.endpoint.service import IMAGE_TYPES, JSON, JSONLINES, NAME_PATTERN
from scones.endpoint.transform import TransformResult
from scones.errors import SconesError
from scones.localaws.logstore import LogStore
from scones.localaws.protocol import AwsError
from scones.localaws.sagemaker_records import Records, job_name_in_use, page, required

KIND = "transform-jobs"
LOG_GROUP = "/aws/sagemaker/TransformJobs"
MODELS = "models"
SHOWN_FAILURES = 5  # FailureReason names this many corrupt inputs, then counts the rest


class _Stopped(Exception):
    """Raised from the job's progress when StopTransformJob was called: ends `run` after a batch."""


class TransformJobs:
    def __init__(self, settings: Settings, records: Records, logs: LogStore) -> None:
        self.settings, self.records, self.logs = settings, records, logs
        self.stops: dict[str, threading.Event] = {}
        self._close_orphans()

    def _close_orphans(self) -> None:
        """Jobs left InProgress by an earlier `scones up` that stopped: their thread died with it."""
        for name in self.records.names(KIND):
            record = self.records.get(KIND, name) or {}
            if record.get("TransformJobStatus") in ("InProgress", "Stopping"):
                self._finish(name, "Failed", "scones up stopped while the job ran; create the job again")

    def create_transform_job(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(required(body, "TransformJobName"))
        if not NAME_PATTERN.match(name):
            raise AwsError(
                "ValidationException", f"TransformJobName {name!r}: use up to 63 letters, digits and hyphens"
            )
        model_name = str(required(body, "ModelName"))
        model = self.records.get(MODELS, model_name) if "/" not in model_name else None
        if model is None:
            raise AwsError("ValidationException", f'Could not find model "{self.records.arn(MODELS, model_name)}".')
        transform_input = required(body, "TransformInput")
        source = (transform_input.get("DataSource") or {}).get("S3DataSource") or {}
        input_uri = str(source.get("S3Uri", ""))
        if source.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise AwsError(
                "ValidationException",
                f"S3DataType {source.get('S3DataType')!r} is not supported locally; use S3Prefix",
            )
        if not input_uri.startswith("s3://"):
            raise AwsError("ValidationException", f"TransformInput S3Uri {input_uri or '(none)'!r} is not an s3:// URI")
        self._check_inputs(input_uri)
        content_type = transform_input.get("ContentType")
        if content_type and content_type not in IMAGE_TYPES:
            raise AwsError(
                "ValidationException",
                f"ContentType {content_type!r} is not supported; give one of {', '.join(IMAGE_TYPES)}",
            )
        if transform_input.get("SplitType", "None") != "None":
            raise AwsError(
                "ValidationException", "SplitType must be None for images (one image per object, one .out per image)"
            )
        transform_output = required(body, "TransformOutput")
        output_uri = str(transform_output.get("S3OutputPath", ""))
        if not output_uri.startswith("s3://"):
            raise AwsError("ValidationException", f"S3OutputPath {output_uri or '(none)'!r} is not an s3:// URI")
        accept = str(transform_output.get("Accept") or JSON)
        if accept not in (JSON, JSONLINES):
            raise AwsError("ValidationException", f"Accept {accept!r} is not supported; give {JSON} or {JSONLINES}")
        required(body, "TransformResources")
        if self.records.get(KIND, name) is not None:
            raise job_name_in_use(self.records.arn(KIND, name), "transform job")
        now = time.time()
        record: dict[str, Any] = {
            **{
                k: body[k]
                for k in (
                    "MaxConcurrentTransforms",
                    "MaxPayloadInMB",
                    "BatchStrategy",
                    "Environment",
                    "TransformInput",
                    "TransformOutput",
                    "TransformResources",
                    "DataProcessing",
                )
                if k in body
            },  # fmt: skip
            "TransformJobName": name,
            "TransformJobArn": self.records.arn(KIND, name),
            "ModelName": model_name,
            "TransformJobStatus": "InProgress",
            "CreationTime": now,
            "LastModifiedTime": now,
            "LogStream": f"{name}/local-{int(now)}",
        }
        self.records.put(KIND, name, record)
        self.stops[name] = threading.Event()
        artifact_uri = str(model["PrimaryContainer"]["ModelDataUrl"])
        args = (name, artifact_uri, input_uri, output_uri, accept, int(body.get("MaxConcurrentTransforms") or 0))
        threading.Thread(target=self._run, args=args, daemon=True, name=f"transform-{name}").start()
        return {"TransformJobArn": record["TransformJobArn"]}

    def describe_transform_job(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(required(body, "TransformJobName"))
        record = self.records.get(KIND, name) if "/" not in name else None
        if record is None:
            raise AwsError("ValidationException", f'Could not find job "{self.records.arn(KIND, name)}".')
        record.pop("LogStream", None)
        return record

    def list_transform_jobs(self, body: dict[str, Any]) -> dict[str, Any]:
        keys = ("TransformJobName", "TransformJobArn", "CreationTime", "TransformEndTime", "LastModifiedTime",
                "TransformJobStatus", "FailureReason")  # fmt: skip
        summaries = []
        for name in self.records.names(KIND):
            job = self.records.get(KIND, name)
            if job is None:
                continue
            if body.get("StatusEquals") and job["TransformJobStatus"] != body["StatusEquals"]:
                continue
            if body.get("NameContains") and str(body["NameContains"]) not in name:
                continue
            summaries.append({k: job[k] for k in keys if k in job})
        sort_key = "TransformJobName" if body.get("SortBy") == "Name" else "CreationTime"
        summaries.sort(key=lambda s: s[sort_key], reverse=body.get("SortOrder", "Descending") == "Descending")
        return page(summaries, body, "TransformJobSummaries")

    def stop_transform_job(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(required(body, "TransformJobName"))
        job = self.records.get(KIND, name) if "/" not in name else None
        if job is None:
            raise AwsError("ValidationException", f'Could not find job "{self.records.arn(KIND, name)}".')
        if job["TransformJobStatus"] != "InProgress" or name not in self.stops:
            raise AwsError(
                "ValidationException",
                f"The request was rejected because the transform job is in status {job['TransformJobStatus']}.",
            )
        self.stops[name].set()
        self.records.update(KIND, name, TransformJobStatus="Stopping", LastModifiedTime=time.time())
        return {}

    def _check_inputs(self, uri: str) -> None:
        """No object under the input prefix is SageMaker's ValidationException at create time, not a failed job."""
        from scones.keys import parse_s3_uri
        from scones.storage import Store

        try:
            bucket, key = parse_s3_uri(uri)
            found = next(iter(Store(self.settings).list(bucket, key)), None)
        except SconesError as exc:
            raise AwsError("ValidationException", f"TransformInput S3Uri {uri}: {exc}") from exc
        if found is None:
            raise AwsError(
                "ValidationException",
                f'No S3 objects found under S3 URL "{uri}" given in input data source. Please ensure that the '
                "bucket exists and that objects exist under that S3 prefix.",
            )

    # -- the job's thread -------------------------------------------------------------------------
    def _run(self, name: str, artifact_uri: str, input_uri: str, output_uri: str, accept: str, workers: int) -> None:
        from scones.endpoint import transform
        from scones.model.artifact import load
        from scones.storage import Store

        started = time.time()
        self.records.update(KIND, name, TransformStartTime=started, LastModifiedTime=started)
        try:
            store = Store(self.settings)
            result = transform.run(
                store,
                load(artifact_uri, store),
                input_uri,
                output_uri,
                workers=workers,
                accept=accept,
                progress=_JobProgress(self, name),
            )
        except _Stopped:
            self._log(name, [f"Transform job {name} stopped"])
            self._finish(name, "Stopped", None)
            return
        except Exception as exc:  # the reason is the job's FailureReason, as SageMaker's ClientError
            reason = str(exc) if isinstance(exc, SconesError) else f"{type(exc).__name__}: {exc}"
            self._log(name, [f"Transform job {name} failed: {reason}"])
            self._finish(name, "Failed", f"ClientError: {reason}")
            return
        self._log(name, [_summary(result, output_uri)])
        self._finish(name, "Failed" if result.failed else "Completed", _failure(result) if result.failed else None)

    def _finish(self, name: str, status: str, reason: str | None) -> None:
        now = time.time()
        changes: dict[str, Any] = {"TransformJobStatus": status, "TransformEndTime": now, "LastModifiedTime": now}
        if reason:
            changes["FailureReason"] = reason
        self.records.update(KIND, name, **changes)
        self.stops.pop(name, None)

    def _log(self, name: str, lines: list[str]) -> None:
        record = self.records.get(KIND, name)
        if record is not None:
            self.logs.append(LOG_GROUP, record["LogStream"], lines)


class _JobProgress:
    """`run`'s progress: log lines to CloudWatch Logs; a requested stop ends the run after the batch."""

    def __init__(self, jobs: TransformJobs, name: str) -> None:
        self.jobs, self.name = jobs, name

    def start(self, description: str, total: int | None = None) -> None:
        self.log(description)

    def advance(self, n: int = 1) -> None:
        stop = self.jobs.stops.get(self.name)
        if stop is not None and stop.is_set():
            raise _Stopped

    def log(self, message: str) -> None:
        self.jobs._log(self.name, [message])


def _summary(result: TransformResult, output_uri: str) -> str:
    return (
        f"{result.written} answers written to {output_uri} ({result.images_per_second:.1f} images/s), "
        f"{result.skipped} already answered, {len(result.failed)} failed"
    )


def _failure(result: TransformResult) -> str:
    """SageMaker's FailureReason for rejected records, naming the inputs (what its job log would show)."""
    shown = "; ".join(f"{name} ({reason})" for name, reason in result.failed[:SHOWN_FAILURES])
    more = f" and {len(result.failed) - SHOWN_FAILURES} more" if len(result.failed) > SHOWN_FAILURES else ""
    return (
        f"ClientError: {len(result.failed)} of {result.inputs} inputs could not be classified and have no .out: "
        f"{shown}{more}; fix or remove them and create the job again (answered inputs are skipped)"
    )
