"""SigV4: which service a request is for, and (when keys are configured) whether its signature holds.

The credential scope (`Credential=AKID/20261204/us-east-1/s3/aws4_request`) names the service, so
one port serves them all. Verification recomputes the signature with botocore's own signer (the
code that made it), so the canonical request is built exactly as the client built it.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from collections.abc import Mapping

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.requests import Request

from scones.localaws.protocol import AwsError

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
MAX_SKEW = dt.timedelta(minutes=15)  # AWS's limit before RequestTimeTooSkewed

# Error codes per protocol: (no signature, unknown key, wrong signature)
_CODES = {
    "rest-xml": ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"),
    "query": ("MissingAuthenticationToken", "InvalidClientTokenId", "SignatureDoesNotMatch"),
    "json": ("MissingAuthenticationTokenException", "UnrecognizedClientException", "InvalidSignatureException"),
}


def scope_service(headers: Mapping[str, str], query: Mapping[str, str]) -> str | None:
    """The signing name in the request's credential scope (header or presigned query), if any."""
    found = _SCOPE.search(headers.get("authorization", ""))
    if found:
        return found.group(1)
    credential = query.get("X-Amz-Credential", "").split("/")
    return credential[3] if len(credential) == 5 else None


def verify(request: Request, body: bytes, access_key: str, secret_key: str, protocol: str) -> None:
    """Raise AwsError (403, AWS's code for the protocol) unless the request is signed with these keys."""
    missing, unknown, wrong = _CODES.get(protocol, _CODES["json"])
    found = _AUTH.match(request.headers.get("authorization", ""))
    if found is None:
        raise AwsError(
            missing, "Request is missing a SigV4 Authorization header; sign it with the configured keys", 403
        )
    if not hmac.compare_digest(found["key"], access_key):
        raise AwsError(unknown, "The AWS access key ID you provided does not exist in our records", 403)
    amz_date = request.headers.get("x-amz-date", "")
    try:
        when = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise AwsError(wrong, "The request has no valid X-Amz-Date header", 403) from exc
    if abs(dt.datetime.now(dt.UTC) - when) > MAX_SKEW:
        raise AwsError("RequestTimeTooSkewed", "The request time differs from the server time by over 15 minutes", 403)
    signer_class = S3SigV4Auth if found["service"] == "s3" else SigV4Auth
    signer = signer_class(Credentials(access_key, secret_key), found["service"], found["region"])
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = f"http://{request.headers.get('host', 'localhost')}{raw_path.decode('latin-1')}" + (
        f"?{query}" if query else ""
    )
    signed = {name: request.headers.get(name, "") for name in found["signed"].split(";")}
    aws_request = AWSRequest(method=request.method, url=url, data=body, headers=signed)
    aws_request.context["timestamp"] = amz_date
    if "x-amz-content-sha256" in request.headers and "x-amz-content-sha256" not in signed:
        aws_request.headers["X-Amz-Content-SHA256"] = request.headers["x-amz-content-sha256"]  # S3 always signs it
    expected = signer.signature(signer.string_to_sign(aws_request, signer.canonical_request(aws_request)), aws_request)
    if not hmac.compare_digest(expected, found["signature"]):
        raise AwsError(
            wrong,
            "The request signature we calculated does not match the signature you provided; check your secret key",
            403,
        )
