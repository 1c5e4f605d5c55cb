"""S3's aws-chunked request bodies, as botocore and the AWS CLI send them with checksums.

When `x-amz-content-sha256` is `STREAMING-...`, the body is framed: `<hex size>[;chunk-signature=..]\\r\\n
<data>\\r\\n`, ending with a zero-size chunk and optional trailers (`x-amz-checksum-crc32:...`).
"""

from __future__ import annotations

from collections.abc import Mapping

from scones.localaws.protocol import AwsError


def is_chunked(headers: Mapping[str, str]) -> bool:
    return headers.get("x-amz-content-sha256", "").startswith("STREAMING-") or "aws-chunked" in headers.get(
        "content-encoding", ""
    )


def decode(body: bytes) -> bytes:
    """The payload inside an aws-chunked body."""
    out: list[bytes] = []
    position = 0
    while True:
        end = body.find(b"\r\n", position)
        if end < 0:
            raise AwsError("IncompleteBody", "The aws-chunked body ended before its final zero-size chunk")
        try:
            size = int(body[position:end].split(b";", 1)[0], 16)
        except ValueError as exc:
            raise AwsError("InvalidRequest", "The aws-chunked body has a malformed chunk header") from exc
        start = end + 2
        if size == 0:
            return b"".join(out)
        out.append(body[start : start + size])
        position = start + size + 2
