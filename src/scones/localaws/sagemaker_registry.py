"""SageMaker's model registry API over scones' model packages (`scones.model.packages`).

CreateModelPackageGroup records a group (scones' groups exist through their packages, so the
group's own description lives in a small JSON record); CreateModelPackage registers
InferenceSpecification's ModelDataUrl as the group's next version (evaluated on the staged test
split, as `scones models register` does, when that split is staged); DescribeModelPackage, ListModelPackages and
UpdateModelPackage (ModelApprovalStatus) read and change the same rows `scones models` shows.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from scones.config import Settings
from scones.errors import SconesError
from scones.localaws.protocol import AwsError
from scones.localaws.sagemaker_records import Records, page, required
from scones.model import packages
from scones.model.packages import ModelPackage
from scones.storage import Store

GROUPS = "model-package-groups"


class Registry:
    def __init__(self, settings: Settings, records: Records) -> None:
        self.settings, self.records = settings, records

    def create_model_package_group(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(required(body, "ModelPackageGroupName"))
        if not packages.GROUP_PATTERN.match(name):
            raise AwsError(
                "ValidationException", f"ModelPackageGroupName {name!r}: use up to 63 letters, digits and hyphens"
            )
        arn = self._group_arn(name)
        if self.records.get(GROUPS, name) is not None:
            raise AwsError("ValidationException", f"Model Package Group already exists: {arn}")
        self.records.put(GROUPS, name, {
            "ModelPackageGroupName": name, "ModelPackageGroupArn": arn, "CreationTime": time.time(),
            "ModelPackageGroupDescription": body.get("ModelPackageGroupDescription", ""),
            "ModelPackageGroupStatus": "Completed",
        })  # fmt: skip
        return {"ModelPackageGroupArn": arn}

    def create_model_package(self, body: dict[str, Any]) -> dict[str, Any]:
        group = str(required(body, "ModelPackageGroupName")).rsplit("/", 1)[-1]
        if self.records.get(GROUPS, group) is None and not packages.list_packages(self.settings, group):
            raise AwsError("ValidationException", f"Model Package Group {self._group_arn(group)} does not exist.")
        containers = (body.get("InferenceSpecification") or {}).get("Containers") or []
        if len(containers) != 1 or not containers[0].get("ModelDataUrl"):
            raise AwsError("ValidationException", "InferenceSpecification needs one container with a ModelDataUrl")
        status = body.get("ModelApprovalStatus", "PendingManualApproval")
        if status not in packages.STATUSES:
            raise AwsError(
                "ValidationException", f"ModelApprovalStatus {status!r}: use one of {', '.join(packages.STATUSES)}"
            )
        try:
            package = packages.register(
                self.settings,
                str(containers[0]["ModelDataUrl"]),
                group,
                evaluate_model=Store(self.settings).exists(self.settings.bucket, "data/test.lst"),
                description=body.get("ModelPackageDescription"),
            )
            if status != package.status:
                package = packages.set_status(self.settings, group, package.version, status)
        except SconesError as exc:
            raise AwsError("ValidationException", str(exc)) from exc
        return {"ModelPackageArn": self._arn(package)}

    def describe_model_package(self, body: dict[str, Any]) -> dict[str, Any]:
        package = self._package(str(required(body, "ModelPackageName")))
        return {
            **self._summary(package),
            "InferenceSpecification": {
                "Containers": [{"Image": "image-classification", "ModelDataUrl": package.artifact}],
                "SupportedContentTypes": ["image/png", "image/jpeg", "application/x-image"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "CustomerMetadataProperties": {
                k: str(v)
                for k, v in (
                    ("TrainingJob", package.training_job),
                    ("DataChecksum", package.data_checksum),
                    ("Accuracy", (package.evaluation or {}).get("accuracy")),
                )
                if v is not None
            },  # fmt: skip
        }

    def list_model_packages(self, body: dict[str, Any]) -> dict[str, Any]:
        group = body.get("ModelPackageGroupName")
        status = body.get("ModelApprovalStatus")
        try:
            found = packages.list_packages(self.settings, str(group).rsplit("/", 1)[-1] if group else None, status)
        except SconesError as exc:
            raise AwsError("ValidationException", str(exc)) from exc
        items = [self._summary(p) for p in found]
        items.sort(key=lambda i: i["CreationTime"], reverse=body.get("SortOrder", "Ascending") == "Descending")
        return page(items, body, "ModelPackageSummaryList")

    def update_model_package(self, body: dict[str, Any]) -> dict[str, Any]:
        arn = str(required(body, "ModelPackageArn"))
        package = self._package(arn)
        status = body.get("ModelApprovalStatus")
        if status is not None:
            try:
                package = packages.set_status(
                    self.settings, package.group, package.version, str(status), body.get("ApprovalDescription")
                )
            except SconesError as exc:
                raise AwsError("ValidationException", str(exc)) from exc
        return {"ModelPackageArn": self._arn(package)}

    def _package(self, ref: str) -> ModelPackage:
        try:
            group, version = packages.parse_ref(ref)
            return packages.describe(self.settings, group, version)
        except SconesError as exc:
            raise AwsError("ValidationException", f"ModelPackage {ref} does not exist.") from exc

    def _summary(self, package: ModelPackage) -> dict[str, Any]:
        return {
            "ModelPackageName": package.group, "ModelPackageGroupName": package.group,
            "ModelPackageVersion": package.version, "ModelPackageArn": self._arn(package),
            "ModelPackageDescription": package.description or "",
            "CreationTime": datetime.fromisoformat(package.created).timestamp(),
            "ModelPackageStatus": "Completed", "ModelApprovalStatus": package.status,
        }  # fmt: skip

    def _arn(self, package: ModelPackage) -> str:
        base = f"arn:aws:sagemaker:{self.records.region}:{self.records.account_id}"
        return f"{base}:model-package/{package.group}/{package.version}"

    def _group_arn(self, name: str) -> str:
        return f"arn:aws:sagemaker:{self.records.region}:{self.records.account_id}:model-package-group/{name}"
