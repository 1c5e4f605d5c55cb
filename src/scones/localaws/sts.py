"""STS (query protocol): GetCallerIdentity, which the SageMaker SDK and `aws sts` ask first."""

from __future__ import annotations

from urllib.parse import parse_qsl
from xml.etree import ElementTree as ET  # noqa: S405 - building, not parsing

from starlette.requests import Request
from starlette.responses import Response

from scones.localaws.protocol import AwsError, not_supported

STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"


async def handle(request: Request, account_id: str, request_id: str) -> Response:
    params = dict(request.query_params)
    if request.method == "POST":
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
    action = params.get("Action")
    if not action:
        raise AwsError("MissingAction", "The request names no Action; send Action=GetCallerIdentity")
    if action != "GetCallerIdentity":
        raise not_supported("sts", action)
    root = ET.Element("GetCallerIdentityResponse", xmlns=STS_XMLNS)
    result = ET.SubElement(root, "GetCallerIdentityResult")
    ET.SubElement(result, "Arn").text = f"arn:aws:iam::{account_id}:root"
    ET.SubElement(result, "UserId").text = account_id
    ET.SubElement(result, "Account").text = account_id
    ET.SubElement(ET.SubElement(root, "ResponseMetadata"), "RequestId").text = request_id
    return Response(ET.tostring(root), 200, media_type="text/xml")
