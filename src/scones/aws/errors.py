"""Errors of the AWS stage, and the one boundary where botocore's become ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from scones.errors import SconesError


class AwsError(SconesError):
    """An AWS call failed, or AWS holds something that stops the deployment."""


@contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Translate botocore failures during `what` into one AwsError that says what to do."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        yield
    except NoCredentialsError as exc:
        raise AwsError(
            f"{what}: no AWS credentials; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        ) from exc
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AwsError(
            f"{what}: {error.get('Code', 'error')}: {error.get('Message', exc)}; "
            "check the permissions of your AWS credentials and the region"
        ) from exc
    except BotoCoreError as exc:
        raise AwsError(f"{what}: {exc}; check AWS_ENDPOINT_URL, the network and the region") from exc


def error_code(exc: BaseException) -> str:
    """The AWS error code of a botocore ClientError (or of the one an AwsError wraps), else ''."""
    cause = exc.__cause__ if isinstance(exc, AwsError) else exc
    response = getattr(cause, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
