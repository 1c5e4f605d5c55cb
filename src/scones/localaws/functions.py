"""Lambda functions as the API creates them: a configuration and an unpacked zip under the home.

`<home>/localaws/lambda/<name>/function.json` holds the configuration (AWS's member names) and
`code/` the unpacked zip, so functions survive a restart of `scones up`. Only Python runtimes
run locally; any other is refused when the function is created.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

from scones.localaws.protocol import AwsError

MAX_UNZIPPED = 250 << 20  # Lambda's limit for an unpacked deployment package
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
UPDATABLE = ("Handler", "Timeout", "MemorySize", "Environment", "Description", "Role", "Runtime")


def function_name(given: str) -> str:
    """The bare name from a name, `name:qualifier`, or a full or partial ARN."""
    parts = given.split(":")
    name = parts[6] if given.startswith("arn:") and len(parts) >= 7 else parts[0]
    if not _NAME.match(name):
        raise AwsError("ValidationException", f"1 validation error: functionName {given!r} is not a valid name or ARN")
    return name


class Functions:
    """Create, read, update and delete functions under one home."""

    def __init__(self, root: Path, region: str, account_id: str) -> None:
        self.root, self.region, self.account_id = root, region, account_id
        self._cache: dict[str, tuple[tuple[int, int, int], dict[str, Any]]] = {}

    def arn(self, name: str) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{name}"

    def code_dir(self, name: str) -> Path:
        return self.root / name / "code"

    def get(self, given: str) -> dict[str, Any]:
        """A function's configuration (a copy): read again only when its file changed, as every task reads it."""
        name = function_name(given)
        path = os.path.join(self.root, name, "function.json")
        try:
            stat = os.stat(path)
        except OSError:
            raise AwsError("ResourceNotFoundException", f"Function not found: {self.arn(name)}", 404) from None
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self._cache.get(name)
        if cached is None or cached[0] != version:
            with open(path, encoding="utf-8") as handle:
                cached = self._cache[name] = (version, json.load(handle))
        config = dict(cached[1])  # callers may change it: a copy of what can change (deepcopy costs 10x)
        config["Environment"] = {"Variables": dict(config["Environment"]["Variables"])}
        config["Architectures"] = list(config["Architectures"])
        return config

    def list(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        return [self.get(p.name) for p in sorted(self.root.iterdir()) if (p / "function.json").is_file()]

    def create(self, request: dict[str, Any], zip_bytes: bytes) -> dict[str, Any]:
        name = function_name(str(request.get("FunctionName", "")))
        _check_runtime(request.get("Runtime"))
        for required in ("Role", "Handler"):
            if not request.get(required):
                raise AwsError("InvalidParameterValueException", f"{required} is required for a Zip function")
        if (self.root / name / "function.json").is_file():
            raise AwsError("ResourceConflictException", f"Function already exist: {name}", 409)
        config = {
            "FunctionName": name,
            "FunctionArn": self.arn(name),
            "Runtime": request["Runtime"],
            "Role": request["Role"],
            "Handler": request["Handler"],
            "Description": request.get("Description", ""),
            "Timeout": int(request.get("Timeout", 3)),
            "MemorySize": int(request.get("MemorySize", 128)),
            "Environment": {"Variables": dict((request.get("Environment") or {}).get("Variables") or {})},
            "Version": "$LATEST",
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "PackageType": "Zip",
            "Architectures": ["x86_64"],
        }
        _check_limits(config)
        self._write_code(name, zip_bytes, config)
        return config

    def update_code(self, given: str, zip_bytes: bytes) -> dict[str, Any]:
        config = self.get(given)
        self._write_code(config["FunctionName"], zip_bytes, config)
        return config

    def update_configuration(self, given: str, request: dict[str, Any]) -> dict[str, Any]:
        config = self.get(given)
        if "Runtime" in request:
            _check_runtime(request["Runtime"])
        for key in UPDATABLE:
            if key in request:
                config[key] = request[key]
        config["Environment"] = {"Variables": dict((config.get("Environment") or {}).get("Variables") or {})}
        _check_limits(config)
        self._save(config)
        return config

    def delete(self, given: str) -> None:
        name = self.get(given)["FunctionName"]
        shutil.rmtree(self.root / name)

    def _write_code(self, name: str, zip_bytes: bytes, config: dict[str, Any]) -> None:
        folder = self.root / name
        staging = folder / "code.new"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            _unzip(zip_bytes, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if not (folder / "function.json").is_file():
                shutil.rmtree(folder, ignore_errors=True)
            raise
        shutil.rmtree(folder / "code", ignore_errors=True)
        staging.rename(folder / "code")
        config["CodeSize"] = len(zip_bytes)
        config["CodeSha256"] = base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
        self._save(config)

    def _save(self, config: dict[str, Any]) -> None:
        config["LastModified"] = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"
        path = self.root / config["FunctionName"] / "function.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config))
        tmp.replace(path)


def _check_runtime(runtime: Any) -> None:
    if not isinstance(runtime, str) or not runtime.startswith("python3"):
        raise AwsError(
            "InvalidParameterValueException",
            f"The runtime {runtime!r} is not supported locally by scones up; use a python3.x runtime",
        )


def _check_limits(config: dict[str, Any]) -> None:
    if not 1 <= int(config["Timeout"]) <= 900:
        raise AwsError("InvalidParameterValueException", "Timeout must be between 1 and 900 seconds")
    if not 128 <= int(config["MemorySize"]) <= 10240:
        raise AwsError("InvalidParameterValueException", "MemorySize must be between 128 and 10240 MB")


def _unzip(zip_bytes: bytes, dest: Path) -> None:
    """Unpack a deployment package; zipfile drops absolute and '..' names, and the size is capped."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
        if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED:
            raise AwsError("InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes")
        archive.extractall(dest)
    except (zipfile.BadZipFile, ValueError) as exc:
        raise AwsError(
            "InvalidParameterValueException", f"Could not unzip uploaded file: {exc}; upload a .zip of your code"
        ) from exc
