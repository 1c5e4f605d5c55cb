"""S3 (REST-XML) over the scones home: each supported operation is a small function.

A request is addressed path style (`/bucket/key`) or virtual-host style (`bucket.localhost`);
`match_operation` names the operation from botocore's model, and anything not in `OPERATIONS`
answers NotImplemented naming it.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from scones.localaws import chunked, xmlbody
from scones.localaws.listing import list_objects
from scones.localaws.objects import ObjectMeta, Objects
from scones.localaws.protocol import AwsError, http_date, match_operation, not_supported, xml_response

VIRTUAL_HOST_BASES = ("s3.localhost.localstack.cloud", "localhost.localstack.cloud", "s3.localhost", "localhost")
STREAM_ABOVE = 1 << 20  # bodies up to this size are sent in one piece


@dataclass
class S3Request:
    request: Request
    bucket: str
    key: str
    query: dict[str, str]
    objects: Objects
    region: str

    @property
    def headers(self) -> Any:
        return self.request.headers

    async def body(self) -> bytes:
        data = await self.request.body()
        return chunked.decode(data) if chunked.is_chunked(self.headers) else data


Handler = Callable[[S3Request], Awaitable[Response]]


def address(request: Request) -> tuple[str, str]:
    """(bucket, key) from a virtual-host name (`bucket.localhost`) or the path."""
    host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
    path = request.scope.get("raw_path", b"").decode("latin-1").split("?", 1)[0] or request.url.path
    path = unquote(path).lstrip("/")
    for base in VIRTUAL_HOST_BASES:
        if host.endswith("." + base):
            return host[: -len(base) - 1], path
    bucket, _, key = path.partition("/")
    return bucket, key


async def handle(request: Request, objects: Objects, region: str) -> Response:
    bucket, key = address(request)
    query = dict(request.query_params)
    # a representative path: S3's templates only tell bucket from bucket/key, and it keeps the match cache small
    shape = "/b/k" if key else ("/b" if bucket else "/")
    operation = match_operation("s3", request.method, shape, query, request.headers)
    handler = OPERATIONS.get(operation)
    if handler is None:
        raise not_supported("s3", operation)
    return await handler(S3Request(request, bucket, key, query, objects, region))


# -- buckets ------------------------------------------------------------------------------------
async def list_buckets(r: S3Request) -> Response:
    buckets = [{"Name": name, "CreationDate": created} for name, created in r.objects.buckets()]
    owner = {"ID": "scones", "DisplayName": "scones"}
    return xml_response("s3", "ListBuckets", {"Buckets": buckets, "Owner": owner}, "ListAllMyBucketsResult")


async def create_bucket(r: S3Request) -> Response:
    body = await r.body()
    if body.strip():
        xmlbody.parse(body)  # a CreateBucketConfiguration; the region is recorded nowhere locally
    r.objects.create_bucket(r.bucket)
    return Response(b"", 200, {"Location": f"/{r.bucket}"})


async def head_bucket(r: S3Request) -> Response:
    r.objects.bucket_dir(r.bucket)
    return Response(b"", 200, {"x-amz-bucket-region": r.region})


async def get_bucket_location(r: S3Request) -> Response:
    r.objects.bucket_dir(r.bucket)
    # us-east-1 is the empty constraint, as on AWS; the output shape is the bare element
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    )
    body += ("" if r.region == "us-east-1" else r.region) + "</LocationConstraint>"
    return Response(body.encode(), 200, media_type="application/xml")


async def delete_bucket(r: S3Request) -> Response:
    r.objects.delete_bucket(r.bucket)
    return Response(b"", 204)


async def list_objects_v1(r: S3Request) -> Response:
    result = list_objects(r.objects, r.bucket, r.query, v2=False)
    return xml_response("s3", "ListObjects", result, "ListBucketResult")


async def list_objects_v2(r: S3Request) -> Response:
    result = list_objects(r.objects, r.bucket, r.query, v2=True)
    return xml_response("s3", "ListObjectsV2", result, "ListBucketResult")


# -- objects ------------------------------------------------------------------------------------
async def put_object(r: S3Request) -> Response:
    if r.headers.get("if-none-match") == "*":
        try:
            r.objects.head(r.bucket, r.key)
        except AwsError:
            pass
        else:
            raise AwsError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)
    body = await r.body()
    meta = r.objects.write(r.bucket, r.key, [body], r.headers.get("content-type"), _user_metadata(r))
    return Response(b"", 200, {"ETag": meta.etag})


async def get_object(r: S3Request) -> Response:
    return _object_response(r, head=False)


async def head_object(r: S3Request) -> Response:
    return _object_response(r, head=True)


def _object_response(r: S3Request, head: bool) -> Response:
    meta = r.objects.head(r.bucket, r.key)
    not_modified = _check_conditions(r, meta)
    headers = _object_headers(meta)
    if not_modified:
        return Response(b"", 304, {"ETag": meta.etag, "Last-Modified": headers["Last-Modified"]})
    wanted = _range(r.headers.get("range"), meta.size)
    start, end = wanted or (0, meta.size)
    status = 206 if wanted else 200
    if wanted:
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{meta.size}"
    headers["Content-Length"] = str(end - start)
    if head:
        return Response(b"", status, headers)
    path = r.objects.path(r.bucket, r.key)
    if end - start <= STREAM_ABOVE:
        with path.open("rb") as handle:
            handle.seek(start)
            return Response(handle.read(end - start), status, headers)
    return StreamingResponse(_file_slice(path, start, end), status, headers)


def _object_headers(meta: ObjectMeta) -> dict[str, str]:
    headers = {
        "ETag": meta.etag,
        "Last-Modified": http_date(meta.modified),
        "Content-Type": meta.content_type,
        "Accept-Ranges": "bytes",
    }
    headers.update({f"x-amz-meta-{k}": v for k, v in meta.metadata.items()})
    return headers


def _check_conditions(r: S3Request, meta: ObjectMeta) -> bool:
    """412 for a failed If-Match/If-Unmodified-Since; True (answer 304) for If-None-Match/If-Modified-Since."""
    h = r.headers
    failed = AwsError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412)
    if "if-match" in h and meta.etag not in _etags(h["if-match"]) and h["if-match"].strip() != "*":
        raise failed
    if "if-unmodified-since" in h and "if-match" not in h and meta.modified > _when(h["if-unmodified-since"]) + 1:
        raise failed
    if "if-none-match" in h:
        return meta.etag in _etags(h["if-none-match"]) or h["if-none-match"].strip() == "*"
    if "if-modified-since" in h:
        return int(meta.modified) <= _when(h["if-modified-since"])
    return False


def _etags(value: str) -> set[str]:
    return {f'"{v.strip().strip(chr(34))}"' for v in value.split(",")}


def _when(value: str) -> float:
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return time.time()  # S3 ignores a date it cannot read; "now" makes the condition neutral


def _range(value: str | None, size: int) -> tuple[int, int] | None:
    """(start, end exclusive) for a `bytes=` Range header, None for none; InvalidRange (416) past the end."""
    if not value:
        return None
    unit, _, spec = value.partition("=")
    first, _, last = spec.partition("-")
    try:
        if unit.strip() != "bytes" or "," in spec:
            raise ValueError(value)
        if first == "":
            start, end = max(size - int(last), 0), size
        else:
            start, end = int(first), (min(int(last) + 1, size) if last else size)
    except ValueError:
        return None  # S3 ignores a Range it cannot parse and sends the whole object
    if start >= size or start >= end:
        raise AwsError("InvalidRange", f"The requested range {value} is not satisfiable for {size} bytes", 416)
    return start, end


def _file_slice(path: Path, start: int, end: int) -> Iterator[bytes]:
    with path.open("rb") as handle:
        handle.seek(start)
        remaining = end - start
        while remaining > 0:
            chunk = handle.read(min(remaining, 1 << 20))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk


async def delete_object(r: S3Request) -> Response:
    r.objects.delete(r.bucket, r.key)
    return Response(b"", 204)


async def delete_objects(r: S3Request) -> Response:
    root = xmlbody.parse(await r.body())
    quiet = xmlbody.text(root, "Quiet").lower() == "true"
    deleted, errors = [], []
    for item in root.findall("Object"):
        key = xmlbody.text(item, "Key")
        try:
            r.objects.delete(r.bucket, key)
        except AwsError as exc:
            errors.append({"Key": key, "Code": exc.code, "Message": exc.message})
        else:
            deleted.append({"Key": key})
    result = {"Deleted": [] if quiet else deleted, "Errors": errors}
    return xml_response("s3", "DeleteObjects", result, "DeleteResult")


async def copy_object(r: S3Request) -> Response:
    source = unquote(r.headers["x-amz-copy-source"].split("?", 1)[0]).lstrip("/")
    src_bucket, _, src_key = source.partition("/")
    replace = r.headers.get("x-amz-metadata-directive", "COPY").upper() == "REPLACE"
    if (src_bucket, src_key) == (r.bucket, r.key) and not replace:
        raise AwsError(
            "InvalidRequest",
            "This copy request is illegal because it is trying to copy an object to itself without changing "
            "the object's metadata; pass --metadata-directive REPLACE",
        )
    new = None
    if replace:
        new = ObjectMeta(0, 0, "", r.headers.get("content-type", "binary/octet-stream"), _user_metadata(r))
    meta = r.objects.copy((src_bucket, src_key), (r.bucket, r.key), new)
    result = {"CopyObjectResult": {"ETag": meta.etag, "LastModified": meta.modified}}
    return xml_response("s3", "CopyObject", result)


# -- multipart ----------------------------------------------------------------------------------
async def create_multipart_upload(r: S3Request) -> Response:
    upload_id = r.objects.start_upload(r.bucket, r.key, r.headers.get("content-type"), _user_metadata(r))
    result = {"Bucket": r.bucket, "Key": r.key, "UploadId": upload_id}
    return xml_response("s3", "CreateMultipartUpload", result, "InitiateMultipartUploadResult")


async def upload_part(r: S3Request) -> Response:
    folder = r.objects.upload(r.bucket, r.key, r.query["uploadId"])
    try:
        number = int(r.query["partNumber"])
    except ValueError as exc:
        raise AwsError("InvalidArgument", "partNumber must be an integer from 1 to 10000") from exc
    etag = r.objects.put_part(folder, number, [await r.body()])
    return Response(b"", 200, {"ETag": etag})


async def complete_multipart_upload(r: S3Request) -> Response:
    folder = r.objects.upload(r.bucket, r.key, r.query["uploadId"])
    root = xmlbody.parse(await r.body())
    try:
        parts = [(int(xmlbody.text(p, "PartNumber")), xmlbody.text(p, "ETag")) for p in root.findall("Part")]
    except ValueError as exc:
        raise AwsError("MalformedXML", "Each Part needs a numeric PartNumber") from exc
    meta = r.objects.complete_upload(r.bucket, r.key, folder, parts)
    result = {"Location": f"/{r.bucket}/{r.key}", "Bucket": r.bucket, "Key": r.key, "ETag": meta.etag}
    return xml_response("s3", "CompleteMultipartUpload", result, "CompleteMultipartUploadResult")


async def abort_multipart_upload(r: S3Request) -> Response:
    r.objects.abort_upload(r.objects.upload(r.bucket, r.key, r.query["uploadId"]))
    return Response(b"", 204)


def _user_metadata(r: S3Request) -> dict[str, str]:
    return {k[len("x-amz-meta-") :]: v for k, v in r.headers.items() if k.startswith("x-amz-meta-")}


OPERATIONS: dict[str, Handler] = {
    "ListBuckets": list_buckets,
    "CreateBucket": create_bucket,
    "HeadBucket": head_bucket,
    "GetBucketLocation": get_bucket_location,
    "DeleteBucket": delete_bucket,
    "ListObjects": list_objects_v1,
    "ListObjectsV2": list_objects_v2,
    "PutObject": put_object,
    "GetObject": get_object,
    "HeadObject": head_object,
    "DeleteObject": delete_object,
    "DeleteObjects": delete_objects,
    "CopyObject": copy_object,
    "CreateMultipartUpload": create_multipart_upload,
    "UploadPart": upload_part,
    "CompleteMultipartUpload": complete_multipart_upload,
    "AbortMultipartUpload": abort_multipart_upload,
}
