"""SageMaker hosting: models, endpoint configs and endpoints, served by scones' endpoint registry.

A model is a record (its container's ModelDataUrl in the scones store; only the
image-classification image serves). An endpoint config's ProductionVariants (name, model,
InitialVariantWeight, InitialInstanceCount as worker processes), ShadowProductionVariants (its
share of mirrored requests: its weight over the production weights, at most 100%) and
DataCaptureConfig (sampling percent, destination) become what `scones deploy --variant ...
--shadow ... --capture-percent ... --capture-destination ...` would run: CreateEndpoint calls
`scones.endpoint.registry.deploy`, so the endpoint is in `scones endpoints` and captures as
`scones deploy` does. UpdateEndpoint switches the variants live (`registry.apply_variants`),
or with a DeploymentConfig runs a blue/green deployment (`sagemaker_rollout.py`);
UpdateEndpointWeightsAndCapacities is `registry.update_weights`.

CreateEndpoint and UpdateEndpoint start the work in a thread and answer after it ends or
after `WAIT_SECONDS`, whichever is first: a local endpoint starts in seconds, so the SDK's
first DescribeEndpoint already sees InService (its own poll sleeps 30 s between looks).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from scones.config import Settings
from scones.endpoint import registry, variants
from scones.endpoint.server import endpoint_config
from scones.endpoint.service import NAME_PATTERN
from scones.endpoint.table import EndpointRecord, find
from scones.endpoint.variants import Variant
from scones.errors import SconesError
from scones.keys import parse_s3_uri
from scones.localaws.protocol import AwsError
from scones.localaws.sagemaker_records import Records, page, required
from scones.localaws.sagemaker_training import IMAGE
from scones.storage import Store

WAIT_SECONDS = 50.0  # below botocore's 60 s read timeout
MODELS, CONFIGS, ENDPOINTS = "models", "endpoint-configs", "endpoints"


class Hosting:
    def __init__(self, settings: Settings, records: Records) -> None:
        self.settings, self.records = settings, records
        self.busy: dict[str, threading.Thread] = {}  # endpoint -> the create/update running on it

    # -- models -------------------------------------------------------------------------------------
    def create_model(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body, "ModelName")
        containers = body.get("Containers") or ([body["PrimaryContainer"]] if body.get("PrimaryContainer") else [])
        if len(containers) != 1:
            raise AwsError(
                "ValidationException", "Give one PrimaryContainer (multi-container models are not served locally)"
            )
        container = containers[0]
        image, data = str(container.get("Image", "")), str(container.get("ModelDataUrl", ""))
        if not IMAGE.match(image):
            raise AwsError(
                "ValidationException",
                f"Image {image or '(none)'!r}: only the image-classification algorithm's image serves locally",
            )
        if not data.startswith("s3://") or not _exists(self.settings, data):
            raise AwsError("ValidationException", f"Could not find model data at {data or '(none)'}.")
        if self.records.get(MODELS, name) is not None:
            raise AwsError(
                "ValidationException", f'Cannot create already existing model "{self.records.arn(MODELS, name)}".'
            )
        record = {
            "ModelName": name, "ModelArn": self.records.arn(MODELS, name), "PrimaryContainer": container,
            "ExecutionRoleArn": body.get("ExecutionRoleArn", ""), "CreationTime": time.time(),
        }  # fmt: skip
        self.records.put(MODELS, name, record)
        return {"ModelArn": record["ModelArn"]}

    def describe_model(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._model(_name(body, "ModelName"))

    def list_models(self, body: dict[str, Any]) -> dict[str, Any]:
        items = [{k: m[k] for k in ("ModelName", "ModelArn", "CreationTime")} for m in self._all(MODELS, body)]
        return page(items, body, "Models")

    def delete_model(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body, "ModelName")
        self._model(name)
        self.records.delete(MODELS, name)
        return {}

    # -- endpoint configs ---------------------------------------------------------------------------
    def create_endpoint_config(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body, "EndpointConfigName")
        for variant in [*required(body, "ProductionVariants"), *(body.get("ShadowProductionVariants") or [])]:
            self._model(str(variant.get("ModelName", "")))
        record = {
            k: body[k] for k in ("ProductionVariants", "ShadowProductionVariants", "DataCaptureConfig") if body.get(k)
        }
        record.update(
            EndpointConfigName=name, EndpointConfigArn=self.records.arn(CONFIGS, name), CreationTime=time.time()
        )
        self._variants(record)  # weights, names and capture are checked now, not at CreateEndpoint
        if self.records.get(CONFIGS, name) is not None:
            raise AwsError(
                "ValidationException",
                f'Cannot create already existing endpoint configuration "{record["EndpointConfigArn"]}".',
            )
        self.records.put(CONFIGS, name, record)
        return {"EndpointConfigArn": record["EndpointConfigArn"]}

    def describe_endpoint_config(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._config(_name(body, "EndpointConfigName"))

    def list_endpoint_configs(self, body: dict[str, Any]) -> dict[str, Any]:
        keys = ("EndpointConfigName", "EndpointConfigArn", "CreationTime")
        return page([{k: c[k] for k in keys} for c in self._all(CONFIGS, body)], body, "EndpointConfigs")

    def delete_endpoint_config(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body, "EndpointConfigName")
        self._config(name)
        self.records.delete(CONFIGS, name)
        return {}

    # -- endpoints ----------------------------------------------------------------------------------
    def create_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body, "EndpointName")
        config = self._config(_name(body, "EndpointConfigName"))
        if self.records.get(ENDPOINTS, name) is not None or find(self.settings, name) is not None:
            raise AwsError(
                "ValidationException", f'Cannot create already existing endpoint "{self.records.arn(ENDPOINTS, name)}".'
            )
        production, capture = self._variants(config)
        now = time.time()
        self.records.put(ENDPOINTS, name, {
            "EndpointName": name, "EndpointArn": self.records.arn(ENDPOINTS, name),
            "EndpointConfigName": config["EndpointConfigName"], "CreationTime": now, "LastModifiedTime": now,
        })  # fmt: skip
        workers = max(int(v.get("InitialInstanceCount", 1) or 1) for v in config["ProductionVariants"])

        def work() -> None:
            settings_config = endpoint_config(self.settings, name=name, port=0, workers=workers, **capture)
            registry.deploy(self.settings, settings_config, None, production_variants=production)

        self._start(name, work)
        return {"EndpointArn": self.records.arn(ENDPOINTS, name)}

    def describe_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._endpoint(_name(body, "EndpointName"))

    def list_endpoints(self, body: dict[str, Any]) -> dict[str, Any]:
        names = set(self.records.names(ENDPOINTS)) | {r.name for r in registry.list_endpoints(self.settings)}
        found = []
        for name in sorted(names):
            try:
                found.append(self._endpoint(name))
            except AwsError:  # deleted by the CLI since: not listed
                continue
        if body.get("StatusEquals"):
            found = [e for e in found if e["EndpointStatus"] == body["StatusEquals"]]
        keys = ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus")
        items = _filtered([{k: e[k] for k in keys} for e in found], body, "EndpointName")
        return page(items, body, "Endpoints")

    def delete_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body, "EndpointName")
        self._endpoint(name)
        if find(self.settings, name) is not None:
            try:
                registry.delete(self.settings, name)
            except SconesError as exc:
                raise AwsError("ValidationException", str(exc)) from exc
        self.records.delete(ENDPOINTS, name)
        return {}

    def update_endpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        from scones.localaws import sagemaker_rollout

        name = _name(body, "EndpointName")
        endpoint = self._endpoint(name)
        if endpoint["EndpointStatus"] != "InService":
            raise AwsError("ValidationException", f'Cannot update in-progress endpoint "{endpoint["EndpointArn"]}".')
        config = self._config(_name(body, "EndpointConfigName"))
        production, capture = self._variants(config)
        record = registry.describe(self.settings, name)  # InService: the registry has it
        if capture["capture_percent"] != record.config.get("capture_percent", 0) or capture[
            "capture_destination"
        ] != record.config.get("capture_destination"):
            raise AwsError(
                "ValidationException",
                "Changing DataCaptureConfig in UpdateEndpoint is not supported locally; delete and create the endpoint",
            )
        policy = (body.get("DeploymentConfig") or {}).get("BlueGreenUpdatePolicy")
        if policy:
            run = sagemaker_rollout.plan(self.settings, name, production, body["DeploymentConfig"])

            def work() -> None:
                if run() == "Completed":
                    self.records.update(ENDPOINTS, name, EndpointConfigName=config["EndpointConfigName"])
        else:

            def work() -> None:
                registry.apply_variants(self.settings, name, registry.resolve_variants(self.settings, production))
                self.records.update(ENDPOINTS, name, EndpointConfigName=config["EndpointConfigName"])

        if self.records.get(ENDPOINTS, name) is None:  # an endpoint of `scones deploy`: the API records it now
            self.records.put(ENDPOINTS, name, {k: endpoint[k] for k in ("EndpointName", "EndpointArn", "CreationTime")})
        self.records.update(ENDPOINTS, name, LastModifiedTime=time.time(), FailureReason=None)
        self._start(name, work, wait=not policy)
        return {"EndpointArn": endpoint["EndpointArn"]}

    def update_endpoint_weights_and_capacities(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body, "EndpointName")
        endpoint = self._endpoint(name)
        weights = {}
        for item in required(body, "DesiredWeightsAndCapacities"):
            if "DesiredInstanceCount" in item:
                raise AwsError(
                    "ValidationException", "DesiredInstanceCount is not supported locally; change only DesiredWeight"
                )
            weights[str(item.get("VariantName"))] = float(item.get("DesiredWeight", 1.0))
        try:
            registry.update_weights(self.settings, name, weights)
        except SconesError as exc:
            raise AwsError("ValidationException", str(exc)) from exc
        return {"EndpointArn": endpoint["EndpointArn"]}

    # -- helpers --------------------------------------------------------------------------------------
    def _start(self, name: str, work: Any, wait: bool = True) -> None:
        """Run `work` on endpoint `name` in a thread; a failure becomes the endpoint's FailureReason."""

        def run() -> None:
            try:
                work()
            except Exception as exc:
                self.records.update(ENDPOINTS, name, FailureReason=str(exc), LastModifiedTime=time.time())

        thread = threading.Thread(target=run, daemon=True, name=f"endpoint-{name}")
        self.busy[name] = thread
        thread.start()
        if wait:
            thread.join(WAIT_SECONDS)

    def _model(self, name: str) -> dict[str, Any]:
        model = self.records.get(MODELS, name) if name else None
        if model is None:
            raise AwsError("ValidationException", f'Could not find model "{self.records.arn(MODELS, name)}".')
        return model

    def _config(self, name: str) -> dict[str, Any]:
        config = self.records.get(CONFIGS, name)
        if config is None:
            raise AwsError(
                "ValidationException", f'Could not find endpoint configuration "{self.records.arn(CONFIGS, name)}".'
            )
        return config

    def _endpoint(self, name: str) -> dict[str, Any]:
        saved = self.records.get(ENDPOINTS, name)
        record = find(self.settings, name)
        if record is not None:  # check the process, as `scones endpoints` does
            record = registry.describe(self.settings, name)
        thread = self.busy.get(name)
        running = thread is not None and thread.is_alive()
        if record is None and not running and not (saved or {}).get("FailureReason"):
            saved = None  # deleted by `scones delete-endpoint`, or never started (the server stopped first)
        if saved is None and record is None:
            raise AwsError("ValidationException", f'Could not find endpoint "{self.records.arn(ENDPOINTS, name)}".')
        endpoint = dict(saved or {"EndpointName": name, "EndpointArn": self.records.arn(ENDPOINTS, name),
                                  "EndpointConfigName": name})  # fmt: skip
        if record is None:
            status = "Creating" if running else "Failed"
        elif running and record.status == "InService":
            status = "Updating"
        else:
            status = record.status
        endpoint["EndpointStatus"] = status
        if status != "Failed" and not (saved or {}).get("FailureReason"):
            endpoint.pop("FailureReason", None)
        elif status == "Failed":
            endpoint["FailureReason"] = (
                endpoint.get("FailureReason")
                or (record.failure_reason if record else None)
                or "The endpoint did not start"
            )
        if endpoint.get("FailureReason") is None:
            endpoint.pop("FailureReason", None)
        if record is not None:
            endpoint.setdefault("CreationTime", _seconds(record.created))
            endpoint.setdefault("LastModifiedTime", _seconds(record.updated))
            endpoint.update(_served(record))
        return endpoint

    def _all(self, kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
        records = [r for n in self.records.names(kind) if (r := self.records.get(kind, n)) is not None]
        key = {MODELS: "ModelName", CONFIGS: "EndpointConfigName"}[kind]
        return _filtered(records, body, key)

    def _variants(self, config: dict[str, Any]) -> tuple[list[Variant], dict[str, Any]]:
        """The endpoint config as scones' variants and capture settings (ValidationException if they do not fit)."""
        try:
            production = [
                Variant(str(v.get("VariantName", "")), self._location(v), float(v.get("InitialVariantWeight", 1.0)))
                for v in config["ProductionVariants"]
            ]
            total = sum(v.weight for v in production)
            shadows = [
                Variant(str(v.get("VariantName", "")), self._location(v),
                        min(1.0, float(v.get("InitialVariantWeight", 1.0)) / total) if total else 1.0, shadow=True)
                for v in config.get("ShadowProductionVariants") or []
            ]  # fmt: skip
            variants.check([*production, *shadows])
            capture = config.get("DataCaptureConfig") or {}
            enabled = capture.get("EnableCapture", True) if capture else False
            settings = {
                "capture_percent": float(capture.get("InitialSamplingPercentage", 0)) if enabled else 0.0,
                "capture_destination": capture.get("DestinationS3Uri") if enabled else None,
            }
            endpoint_config(self.settings, name="check", port=0, **settings)  # validates the capture settings
        except SconesError as exc:
            raise AwsError("ValidationException", str(exc)) from exc
        return [*production, *shadows], settings

    def _location(self, variant: dict[str, Any]) -> str:
        return str(self._model(str(variant.get("ModelName", "")))["PrimaryContainer"]["ModelDataUrl"])


def _served(record: EndpointRecord) -> dict[str, Any]:
    """DescribeEndpoint's variant and capture summaries from the registry's row."""
    listed = variants.from_config(record.config, record.model)
    workers = int(record.config.get("workers", 1))

    def summary(v: Variant) -> dict[str, Any]:
        return {"VariantName": v.name, "CurrentWeight": v.weight, "DesiredWeight": v.weight,
                "CurrentInstanceCount": workers, "DesiredInstanceCount": workers}  # fmt: skip

    out: dict[str, Any] = {"ProductionVariants": [summary(v) for v in listed if not v.shadow]}
    shadows = [summary(v) for v in listed if v.shadow]
    if shadows:
        out["ShadowProductionVariants"] = shadows
    percent = float(record.config.get("capture_percent", 0) or 0)
    if percent:
        out["DataCaptureConfig"] = {
            "EnableCapture": True, "CaptureStatus": "Started", "CurrentSamplingPercentage": int(percent),
            "DestinationS3Uri": record.config.get("capture_destination") or "",
        }  # fmt: skip
    return out


def _name(body: dict[str, Any], member: str) -> str:
    name = str(required(body, member))
    if not NAME_PATTERN.match(name):
        raise AwsError("ValidationException", f"{member} {name!r}: use up to 63 letters, digits and hyphens")
    return name


def _filtered(items: list[dict[str, Any]], body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    if body.get("NameContains"):
        items = [i for i in items if str(body["NameContains"]) in i[key]]
    by_name = body.get("SortBy") == "Name"
    items.sort(
        key=lambda i: i[key] if by_name else i.get("CreationTime", 0),
        reverse=body.get("SortOrder", "Descending") == "Descending",
    )
    return items


def _exists(settings: Settings, uri: str) -> bool:
    try:
        bucket, key = parse_s3_uri(uri)
        return Store(settings).exists(bucket, key)
    except SconesError:
        return False


def _seconds(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()
