"""Execution environments: warm worker processes per function, each with a /tmp of its own.

An invocation takes an idle environment of its function or starts one (a cold start, counted);
afterwards the environment goes back to the idle list, warm. Each environment is a
`lambda_worker.py` process in the function's code folder with the variables the Lambda runtime
sets. On Linux it runs in its own mount namespace (`unshare`) with a private folder bound over
/tmp, so two concurrent invocations never see each other's /tmp/image.png; elsewhere it gets a
private TMPDIR only (docs/local-aws.md). A timed-out environment is killed, as Lambda does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scones.config import env

logger = logging.getLogger(__name__)

WORKER = Path(__file__).with_name("lambda_worker.py")
INIT_TIMEOUT = 10.0  # Lambda's limit for the init phase, timed apart from the function's Timeout


class _InitFailed(Exception):
    """An execution environment could not start (answered as Runtime.InitError)."""


@dataclass
class Invocation:
    """What one invocation gave: the payload or error document, the log, and whether it started cold."""

    payload: str
    error: bool
    log: str
    cold: bool
    duration_ms: float
    request_id: str
    stream: str
    init_ms: float = 0.0


@dataclass(eq=False)  # identity, not value: environments live in a set while busy
class Environment:
    process: asyncio.subprocess.Process
    tmp: Path
    code_sha: str
    stream: str


@dataclass
class Pools:
    """Idle environments per function, and the cold starts counted per function."""

    endpoint_url: str
    region: str
    credentials: tuple[str, str]
    idle: dict[str, list[Environment]] = field(default_factory=dict)
    cold_starts: dict[str, int] = field(default_factory=dict)
    busy: set[Environment] = field(default_factory=set)

    async def invoke(self, config: dict[str, Any], code_dir: Path, event: bytes) -> Invocation:
        name = config["FunctionName"]
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        environment, cold = self._take(name, config["CodeSha256"]), False
        if environment is None:
            self.cold_starts[name] = self.cold_starts.get(name, 0) + 1
            try:
                environment, cold = await self._start(config, code_dir), True
            except _InitFailed as exc:
                document = {"errorMessage": str(exc), "errorType": "Runtime.InitError"}
                stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
                return Invocation(json.dumps(document), True, f"{exc}\n", True, _ms(started), request_id, stream)
        self.busy.add(environment)
        request = {
            "event": event.decode("utf-8", "replace") or "{}",
            "request_id": request_id,
            "function_name": name,
            "function_arn": config["FunctionArn"],
            "memory": config["MemorySize"],
            "log_stream": environment.stream,
            "deadline": time.time() + config["Timeout"],
        }
        assert environment.process.stdin is not None and environment.process.stdout is not None  # noqa: S101 - pipes
        try:
            environment.process.stdin.write((json.dumps(request) + "\n").encode())
            await environment.process.stdin.drain()  # events up to 6 MB exceed the pipe's buffer
            line = await asyncio.wait_for(environment.process.stdout.readline(), timeout=config["Timeout"])
            reply = json.loads(line)
        except TimeoutError:
            self._stop(environment)
            message = f"Task timed out after {config['Timeout']:.2f} seconds"
            document = {"errorMessage": f"{_stamp()} {request_id} {message}", "errorType": "Sandbox.Timedout"}
            return Invocation(
                json.dumps(document), True, message + "\n", cold, _ms(started), request_id, environment.stream
            )
        except (ValueError, ConnectionError, BrokenPipeError):
            self._stop(environment)
            document = {"errorMessage": "Runtime exited without providing a reason", "errorType": "Runtime.ExitError"}
            return Invocation(json.dumps(document), True, "", cold, _ms(started), request_id, environment.stream)
        except BaseException:  # cancelled mid-invocation: the environment's state is unknown
            self._stop(environment)
            raise
        finally:
            self.busy.discard(environment)
        self.idle.setdefault(name, []).append(environment)
        error = reply["error"]
        if error is not None:
            error["requestId"] = request_id
        payload = json.dumps(error) if error is not None else reply["payload"]
        return Invocation(
            payload,
            error is not None,
            reply["log"],
            cold,
            _ms(started),
            request_id,
            environment.stream,
            reply["init_ms"],
        )

    def drop(self, name: str) -> None:
        """Stop the idle environments of a function (its code or configuration changed)."""
        for environment in self.idle.pop(name, []):
            self._stop(environment)

    def close(self) -> None:
        for name in list(self.idle):
            self.drop(name)
        for environment in list(self.busy):
            self._stop(environment)

    def _take(self, name: str, code_sha: str) -> Environment | None:
        idle = self.idle.get(name, [])
        while idle:
            environment = idle.pop()
            if environment.code_sha == code_sha and environment.process.returncode is None:
                return environment
            self._stop(environment)
        return None

    async def _start(self, config: dict[str, Any], code_dir: Path) -> Environment:
        tmp = Path(tempfile.mkdtemp(prefix="scones-lambda-tmp-"))
        variables = self._variables(config, code_dir, tmp)
        command = [sys.executable, str(WORKER), config["Handler"]]
        if private_tmp_supported():
            # cwd is entered before /tmp is covered, so code under /tmp stays importable
            script = 'mount --bind "$0" /tmp && exec "$@"'
            command = [*unshare_command(), "sh", "-c", script, str(tmp), *command]
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=code_dir,
            env=variables,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        stream = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        environment = Environment(process, tmp, config["CodeSha256"], stream)
        assert process.stdout is not None  # noqa: S101 - a pipe was asked for
        try:  # the init phase (imports, module-level clients) has its own limit, as on Lambda
            ready = await asyncio.wait_for(process.stdout.readline(), timeout=INIT_TIMEOUT)
        except TimeoutError:
            ready = b""
        except BaseException:
            self._stop(environment)
            raise
        if not ready:
            self._stop(environment)
            raise _InitFailed(f"The execution environment did not initialise within {INIT_TIMEOUT:.0f} s")
        return environment

    def _variables(self, config: dict[str, Any], code_dir: Path, tmp: Path) -> dict[str, str]:
        variables = {
            "PATH": env("PATH", "/usr/bin:/bin") or "/usr/bin:/bin",
            "LANG": "en_US.UTF-8",
            "TZ": ":UTC",
            "AWS_LAMBDA_FUNCTION_NAME": config["FunctionName"],
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config["MemorySize"]),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config['FunctionName']}",
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": self.credentials[0],
            "AWS_SECRET_ACCESS_KEY": self.credentials[1],
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "LAMBDA_TASK_ROOT": str(code_dir),
            "_HANDLER": config["Handler"],
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        if not private_tmp_supported():
            variables["TMPDIR"] = str(tmp)
        variables.update({str(k): str(v) for k, v in (config.get("Environment") or {}).get("Variables", {}).items()})
        return variables

    def _stop(self, environment: Environment) -> None:
        if environment.process.returncode is None:
            environment.process.kill()
        shutil.rmtree(environment.tmp, ignore_errors=True)


def unshare_command() -> list[str]:
    """A new mount namespace; a user namespace too when not root (unprivileged user namespaces)."""
    return ["unshare", "--mount", "--propagation", "private"] + ([] if os.geteuid() == 0 else ["--map-root-user"])


_PRIVATE_TMP: bool | None = None


def private_tmp_supported() -> bool:
    """Whether this machine can give each environment its own /tmp (checked once)."""
    global _PRIVATE_TMP
    if _PRIVATE_TMP is None:
        probe = tempfile.mkdtemp(prefix="scones-lambda-probe-")
        try:
            done = subprocess.run(  # noqa: S603 - fixed arguments
                [*unshare_command(), "sh", "-c", 'mount --bind "$0" /tmp', probe],
                capture_output=True,
                timeout=10,
                check=False,
            )
            _PRIVATE_TMP = done.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _PRIVATE_TMP = False
        finally:
            shutil.rmtree(probe, ignore_errors=True)
        if not _PRIVATE_TMP:
            logger.warning("No mount namespaces here: Lambda environments share /tmp (each gets its own TMPDIR)")
    return _PRIVATE_TMP


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _stamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
