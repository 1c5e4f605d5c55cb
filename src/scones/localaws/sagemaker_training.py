"""SageMaker training jobs (CreateTrainingJob, Describe, List, Stop) run by scones' trainer.

Only the built-in image-classification algorithm runs locally: its ECR image URI (any
region's account, repository `image-classification`, as `sagemaker.image_uris.retrieve`
returns it) trains with `scones.model.train.train` in a worker thread of `scones up`, on the
four channels (train, validation, train_lst, validation_lst) in the scones store, with the
hyperparameters as the SDK sends them (strings). The job is a row of the `training_jobs` table,
so `scones training-jobs` lists it; its model is copied to where SageMaker puts it,
`<S3OutputPath>/<job>/output/model.tar.gz`. The trainer's log lines go to CloudWatch Logs,
`/aws/sagemaker/TrainingJobs`, stream `<job>/algo-1-<epoch seconds>`, which `fit(logs=...)` tails.

Status: InProgress (Starting, Downloading, Training, Uploading) then Completed, Failed, or
Stopping/Stopped. StopTrainingJob takes effect at the end of the running epoch; the best epoch
so far is kept, as `scones train` does on Ctrl-C.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from scones.config import Settings
from scones.errors import SconesError
from scones.keys import parse_s3_uri
from scones.localaws.logstore import LogStore
from scones.localaws.protocol import AwsError
from scones.localaws.sagemaker_records import Records, job_name_in_use, page, required
from scones.model import jobs
from scones.storage import Store

IMAGE = re.compile(r"^\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/image-classification(:[\w.-]+)?$")
CHANNELS = ("train", "validation", "train_lst", "validation_lst")
LOG_GROUP = "/aws/sagemaker/TrainingJobs"
KIND = "training-jobs"


class Training:
    def __init__(self, settings: Settings, records: Records, logs: LogStore) -> None:
        self.settings, self.records, self.logs = settings, records, logs
        self.stops: dict[str, threading.Event] = {}
        self.threads: dict[str, threading.Thread] = {}
        self._close_orphans()

    def _close_orphans(self) -> None:
        """Jobs left InProgress by an earlier `scones up` that stopped: their thread died with it."""
        for name in self.records.names(KIND):
            record = self.records.get(KIND, name) or {}
            if record.get("TrainingJobStatus") in ("InProgress", "Stopping"):
                reason = "scones up stopped while the job ran; start a new training job"
                row = jobs.get(self.settings, name)
                if row is not None and row["status"] == "InProgress":
                    jobs.finish(self.settings, name, "Failed", duration_seconds=0.0, failure_reason=reason)
                self._finish(name, "Failed", reason)

    def create_training_job(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(required(body, "TrainingJobName"))
        try:
            jobs.check_name(name)
        except SconesError as exc:
            raise AwsError("ValidationException", str(exc)) from exc
        algorithm = required(body, "AlgorithmSpecification")
        image = str(algorithm.get("TrainingImage", ""))
        if not IMAGE.match(image):
            raise AwsError(
                "ValidationException",
                f"TrainingImage {image or '(none)'!r}: only the built-in image-classification algorithm runs locally; "
                "use sagemaker.image_uris.retrieve('image-classification', region)",
            )
        output = str(required(body, "OutputDataConfig").get("S3OutputPath", ""))
        if not output.startswith("s3://"):
            raise AwsError("ValidationException", f"OutputDataConfig.S3OutputPath {output!r} is not an s3:// URI")
        hyperparameters = {str(k): str(v) for k, v in (body.get("HyperParameters") or {}).items()}
        from scones.model.hyperparameters import parse

        try:
            hp = parse(hyperparameters)
        except SconesError as exc:
            raise AwsError("ValidationException", str(exc)) from exc
        channels = self._channels(required(body, "InputDataConfig"))
        if self.records.get(KIND, name) is not None or jobs.get(self.settings, name) is not None:
            raise job_name_in_use(self.records.arn(KIND, name), "training job")
        now = time.time()
        record: dict[str, Any] = {
            **{
                k: body[k]
                for k in (
                    "AlgorithmSpecification",
                    "RoleArn",
                    "InputDataConfig",
                    "ResourceConfig",
                    "StoppingCondition",
                    "OutputDataConfig",
                )
                if k in body
            },  # fmt: skip
            "TrainingJobName": name,
            "TrainingJobArn": self.records.arn(KIND, name),
            "HyperParameters": hyperparameters,
            "CreationTime": now,
            "LastModifiedTime": now,
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "SecondaryStatusTransitions": [
                {"Status": "Starting", "StartTime": now, "StatusMessage": "Preparing the instances for training"}
            ],
            "LogStream": f"{name}/algo-1-{int(now)}",
        }
        self.records.put(KIND, name, record)
        self.stops[name] = threading.Event()
        thread = threading.Thread(target=self._run, args=(name, hp, channels, output), daemon=True, name=name)
        self.threads[name] = thread
        thread.start()
        return {"TrainingJobArn": record["TrainingJobArn"]}

    def describe_training_job(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(required(body, "TrainingJobName"))
        found = self._describe(name)
        if found is None:
            raise AwsError("ValidationException", "Requested resource not found.")
        return found

    def list_training_jobs(self, body: dict[str, Any]) -> dict[str, Any]:
        names = {r["name"] for r in jobs.list_jobs(self.settings, limit=100_000)} | set(self.records.names(KIND))
        summaries = []
        for name in names:
            job = self._describe(name)
            if job is None:
                continue
            if body.get("StatusEquals") and job["TrainingJobStatus"] != body["StatusEquals"]:
                continue
            if body.get("NameContains") and str(body["NameContains"]) not in name:
                continue
            keys = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime", "LastModifiedTime",
                    "TrainingJobStatus", "SecondaryStatus")  # fmt: skip
            summaries.append({k: job[k] for k in keys if k in job})
        descending = body.get("SortOrder", "Descending") == "Descending"
        sort_key = "TrainingJobName" if body.get("SortBy") == "Name" else "CreationTime"
        summaries.sort(key=lambda s: s[sort_key], reverse=descending)
        return page(summaries, body, "TrainingJobSummaries")

    def stop_training_job(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(required(body, "TrainingJobName"))
        job = self._describe(name)
        if job is None:
            raise AwsError("ResourceNotFound", "Requested resource not found.")
        if job["TrainingJobStatus"] != "InProgress" or name not in self.stops:
            raise AwsError(
                "ValidationException",
                f"The request was rejected because the training job is in status {job['TrainingJobStatus']}.",
            )
        self.stops[name].set()
        self.records.update(KIND, name, TrainingJobStatus="Stopping", LastModifiedTime=time.time())
        self._transition(name, "Stopping", "Stopping the training job")
        return {}

    # -- the job's thread -------------------------------------------------------------------------
    def _run(self, name: str, hp: Any, channels: Any, output: str) -> None:
        from scones.model.train import train

        progress = _JobProgress(self, name)
        stop = self.stops[name]

        def on_epoch(_: Any) -> None:
            if stop.is_set():
                raise KeyboardInterrupt  # train() keeps the best epoch and closes the job as Stopped

        self._transition(name, "Downloading", "Downloading input data")
        try:
            record = train(self.settings, hp, channels, name=name, progress=progress, on_epoch=on_epoch)
        except Exception as exc:  # the reason is the job's FailureReason, as SageMaker's ClientError
            reason = str(exc) if isinstance(exc, SconesError) else f"{type(exc).__name__}: {exc}"
            self._log(name, [f"Training job {name} failed: {reason}"])
            self._finish(name, "Failed", reason)
            return
        status = record["status"]
        if record.get("artifact_uri"):
            self._transition(name, "Uploading", "Uploading generated training model")
            target = f"{output.rstrip('/')}/{name}/output/model.tar.gz"
            try:
                store = Store(self.settings)
                source_bucket, source_key = parse_s3_uri(record["artifact_uri"])
                bucket, key = parse_s3_uri(target)
                store.put(bucket, key, store.get(source_bucket, source_key))
            except SconesError as exc:
                self._finish(name, "Failed", f"Uploading the model to {target} failed: {exc}")
                return
            self.records.update(KIND, name, ModelArtifacts={"S3ModelArtifacts": target})
        self._finish(name, status, record.get("failure_reason") if status == "Failed" else None)

    def _finish(self, name: str, status: str, reason: str | None) -> None:
        now = time.time()
        message = {"Completed": "Training job completed", "Stopped": "Training job stopped"}.get(status, reason or "")
        self._transition(name, status, message)
        changes: dict[str, Any] = {"TrainingJobStatus": status, "SecondaryStatus": status, "TrainingEndTime": now}
        if reason:
            changes["FailureReason"] = reason
        self.records.update(KIND, name, LastModifiedTime=now, **changes)
        self.stops.pop(name, None)

    def _transition(self, name: str, status: str, message: str) -> None:
        now = time.time()
        record = self.records.get(KIND, name) or {}
        transitions = record.get("SecondaryStatusTransitions", [])
        if transitions and transitions[-1]["Status"] == status:
            return
        if transitions:
            transitions[-1]["EndTime"] = now
        transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
        if status in ("Completed", "Failed", "Stopped"):
            transitions[-1]["EndTime"] = now
        self.records.update(
            KIND, name, SecondaryStatusTransitions=transitions, SecondaryStatus=status, LastModifiedTime=now
        )

    def _log(self, name: str, lines: list[str]) -> None:
        record = self.records.get(KIND, name)
        if record is not None:
            self.logs.append(LOG_GROUP, record["LogStream"], lines)

    # -- reading ----------------------------------------------------------------------------------
    def _describe(self, name: str) -> dict[str, Any] | None:
        """The API's record merged with scones' row (metrics, artifact); a CLI job from the row alone."""
        row = jobs.get(self.settings, name)
        record = self.records.get(KIND, name) or (_from_row(self.records, row) if row is not None else None)
        if record is None:
            return None
        if row is not None and row.get("metrics"):
            epochs = row["metrics"].get("epochs", [])
            if epochs:
                last, when = epochs[-1], record["LastModifiedTime"]
                record["FinalMetricDataList"] = [
                    {"MetricName": "train:accuracy", "Value": last["train_accuracy"], "Timestamp": when},
                    {"MetricName": "validation:accuracy", "Value": last["validation_accuracy"], "Timestamp": when},
                ]
        if "TrainingEndTime" in record:
            record["TrainingStartTime"] = record["CreationTime"]
            record["TrainingTimeInSeconds"] = record["BillableTimeInSeconds"] = max(
                1, int(record["TrainingEndTime"] - record["CreationTime"])
            )
        record.pop("LogStream", None)
        return record

    def _channels(self, config: list[dict[str, Any]]) -> Any:
        from scones.model.channels import Channels

        uris: dict[str, str] = {}
        for channel in config:
            name = channel.get("ChannelName")
            uri = (channel.get("DataSource") or {}).get("S3DataSource", {}).get("S3Uri", "")
            if name not in CHANNELS:
                raise AwsError(
                    "ValidationException",
                    f"Channel {name!r}: image-classification reads the channels {', '.join(CHANNELS)}",
                )
            if not str(uri).startswith("s3://"):
                raise AwsError("ValidationException", f"Channel {name}: S3Uri {uri!r} is not an s3:// URI")
            uris[str(name)] = str(uri)
        missing = [c for c in CHANNELS if c not in uris]
        if missing:
            raise AwsError(
                "ValidationException",
                f"Missing channels {', '.join(missing)}: the image format needs {', '.join(CHANNELS)}",
            )
        store = Store(self.settings)
        return Channels(
            train=uris["train"].rstrip("/"),
            validation=uris["validation"].rstrip("/"),
            train_lst=_lst(store, uris["train_lst"]),
            validation_lst=_lst(store, uris["validation_lst"]),
        )


class _JobProgress:
    """The trainer's progress: log lines to CloudWatch Logs, phases to SecondaryStatus."""

    def __init__(self, training: Training, name: str) -> None:
        self.training, self.name = training, name

    def start(self, description: str, total: int | None = None) -> None:
        if description.startswith("Training"):
            self.training._transition(self.name, "Training", "Training image download completed. Training in progress.")

    def advance(self, n: int = 1) -> None:
        pass

    def log(self, message: str) -> None:
        self.training._log(self.name, [message])


def _lst(store: Store, uri: str) -> str:
    """An S3Prefix channel of a .lst: the object itself, or the one .lst under the prefix (the seed's layout)."""
    try:
        bucket, key = parse_s3_uri(uri)
        if key and store.exists(bucket, key):
            return uri
        found = [o.key for o in store.list(bucket, key) if o.key.endswith(".lst")]
    except SconesError as exc:
        raise AwsError("ValidationException", f"Channel {uri}: {exc}") from exc
    if len(found) != 1:
        raise AwsError("ValidationException", f"{uri} holds {len(found)} .lst files; give the prefix of exactly one")
    return f"s3://{bucket}/{found[0]}"


def _from_row(records: Records, row: dict[str, Any]) -> dict[str, Any]:
    """A job trained by `scones train`, in DescribeTrainingJob's shape."""
    from datetime import datetime

    def seconds(text: str | None) -> float | None:
        return datetime.fromisoformat(text).timestamp() if text else None

    created = seconds(row["created"]) or 0.0
    record: dict[str, Any] = {
        "TrainingJobName": row["name"],
        "TrainingJobArn": records.arn(KIND, row["name"]),
        "HyperParameters": {k: str(v) for k, v in row["hyperparameters"].items() if v is not None},
        "CreationTime": created,
        "LastModifiedTime": seconds(row["updated"]) or created,
        "TrainingJobStatus": row["status"],
        "SecondaryStatus": row["status"] if row["status"] != "InProgress" else "Training",
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "scones train"},
    }
    if row.get("ended"):
        record["TrainingEndTime"] = seconds(row["ended"])
    if row.get("artifact_uri"):
        record["ModelArtifacts"] = {"S3ModelArtifacts": row["artifact_uri"]}
    if row.get("failure_reason"):
        record["FailureReason"] = row["failure_reason"]
    return record
