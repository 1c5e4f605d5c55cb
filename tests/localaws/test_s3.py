"""S3 through boto3 against the real server: buckets, objects, listings, conditions, multipart."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import pytest
from botocore.exceptions import ClientError

from scones.storage import Store


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_buckets_are_scones_buckets(s3: Any, store: Store) -> None:
    s3.create_bucket(Bucket="seed")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["seed"]
    s3.head_bucket(Bucket="seed")
    assert s3.get_bucket_location(Bucket="seed")["LocationConstraint"] is None
    s3.put_object(Bucket="seed", Key="test/a.png", Body=b"png")
    assert store.get("seed", "test/a.png") == b"png"  # the API's bucket is the store's
    store.put("seed", "train/b.png", b"from the cli")
    assert s3.get_object(Bucket="seed", Key="train/b.png")["Body"].read() == b"from the cli"
    etag = s3.head_object(Bucket="seed", Key="train/b.png")["ETag"]
    assert etag == f'"{hashlib.md5(b"from the cli", usedforsecurity=False).hexdigest()}"'
    assert s3.head_object(Bucket="seed", Key="train/b.png")["ContentType"] == "image/png"


def test_bucket_errors(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    with pytest.raises(ClientError) as exc:
        s3.create_bucket(Bucket="seed")
    assert _code(exc) == "BucketAlreadyOwnedByYou"
    with pytest.raises(s3.exceptions.NoSuchBucket):
        s3.list_objects_v2(Bucket="missing")
    with pytest.raises(ClientError) as exc:
        s3.head_bucket(Bucket="missing")
    assert _code(exc) == "404"
    s3.put_object(Bucket="seed", Key="k", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.delete_bucket(Bucket="seed")
    assert _code(exc) == "BucketNotEmpty"
    s3.delete_object(Bucket="seed", Key="k")
    s3.delete_bucket(Bucket="seed")
    assert s3.list_buckets()["Buckets"] == []


def test_put_get_head_with_aws_etag_and_metadata(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    body = b"\x89PNG" * 500
    put = s3.put_object(Bucket="seed", Key="a/b.png", Body=body, ContentType="image/png", Metadata={"label": "0"})
    etag = f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"'
    assert put["ETag"] == etag
    head = s3.head_object(Bucket="seed", Key="a/b.png")
    assert (head["ETag"], head["ContentLength"], head["ContentType"]) == (etag, len(body), "image/png")
    assert head["Metadata"] == {"label": "0"}
    got = s3.get_object(Bucket="seed", Key="a/b.png")
    assert got["Body"].read() == body


def test_missing_key_is_no_such_key(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="seed", Key="nope.png")
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket="seed", Key="nope.png")
    assert _code(exc) == "404"


def test_range_requests(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    s3.put_object(Bucket="seed", Key="k", Body=b"0123456789")
    part = s3.get_object(Bucket="seed", Key="k", Range="bytes=2-4")
    assert (part["Body"].read(), part["ContentRange"]) == (b"234", "bytes 2-4/10")
    assert s3.get_object(Bucket="seed", Key="k", Range="bytes=-3")["Body"].read() == b"789"
    assert s3.get_object(Bucket="seed", Key="k", Range="bytes=7-")["Body"].read() == b"789"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="seed", Key="k", Range="bytes=10-20")
    assert _code(exc) == "InvalidRange"


def test_conditional_requests(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    etag = s3.put_object(Bucket="seed", Key="k", Body=b"v1")["ETag"]
    assert s3.get_object(Bucket="seed", Key="k", IfMatch=etag)["Body"].read() == b"v1"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="seed", Key="k", IfMatch='"0000"')
    assert _code(exc) == "PreconditionFailed"
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="seed", Key="k", IfNoneMatch=etag)
    assert _code(exc) == "304"
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket="seed", Key="k", IfModifiedSince=later)
    assert _code(exc) == "304"
    earlier = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket="seed", Key="k", IfUnmodifiedSince=earlier)
    assert _code(exc) == "412"
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="seed", Key="k", Body=b"v2", IfNoneMatch="*")
    assert _code(exc) == "PreconditionFailed"
    assert s3.get_object(Bucket="seed", Key="k")["Body"].read() == b"v1"


def test_listing_v1_and_v2_with_prefix_delimiter_and_pagination(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    keys = [f"train/{i:02d}.png" for i in range(7)] + ["test/a.png", "test/b.png", "train.lst", "test.lst"]
    for key in keys:
        s3.put_object(Bucket="seed", Key=key, Body=b"x")
    top = s3.list_objects_v2(Bucket="seed", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["test/", "train/"]
    assert [o["Key"] for o in top["Contents"]] == ["test.lst", "train.lst"]
    assert top["KeyCount"] == 4
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="seed", Prefix="tra")["Contents"]] == sorted(
        k for k in keys if k.startswith("tra")
    )
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="seed", PaginationConfig={"PageSize": 3}))
    assert len(pages) == 4
    assert [o["Key"] for p in pages for o in p.get("Contents", [])] == sorted(keys)
    v1 = list(
        s3.get_paginator("list_objects").paginate(Bucket="seed", Prefix="train/", PaginationConfig={"PageSize": 2})
    )
    assert [o["Key"] for p in v1 for o in p["Contents"]] == [f"train/{i:02d}.png" for i in range(7)]
    rolled = list(
        s3.get_paginator("list_objects").paginate(Bucket="seed", Delimiter="/", PaginationConfig={"PageSize": 1})
    )
    seen = [
        x
        for p in rolled
        for x in [o["Key"] for o in p.get("Contents", [])] + [c["Prefix"] for c in p.get("CommonPrefixes", [])]
    ]
    assert seen == ["test.lst", "test/", "train.lst", "train/"]


def test_resource_objects_filter_uses_v1(s3: Any, local_aws: str) -> None:
    import boto3

    s3.create_bucket(Bucket="seed")
    for key in ("test/x y.png", "test/ü.png", "other.png"):
        s3.put_object(Bucket="seed", Key=key, Body=b"x")
    bucket = boto3.resource("s3", endpoint_url=local_aws, region_name="us-east-1").Bucket("seed")
    assert sorted(o.key for o in bucket.objects.filter(Prefix="test/")) == ["test/x y.png", "test/ü.png"]


def test_copy_and_delete_objects(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    s3.create_bucket(Bucket="other")
    s3.put_object(Bucket="seed", Key="a.png", Body=b"img", ContentType="image/png")
    copied = s3.copy_object(Bucket="other", Key="b/c.png", CopySource={"Bucket": "seed", "Key": "a.png"})
    assert copied["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"img", usedforsecurity=False).hexdigest()}"'
    assert s3.head_object(Bucket="other", Key="b/c.png")["ContentType"] == "image/png"
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="seed", Key="a.png", CopySource={"Bucket": "seed", "Key": "a.png"})
    assert _code(exc) == "InvalidRequest"
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.copy_object(Bucket="other", Key="d.png", CopySource={"Bucket": "seed", "Key": "missing.png"})
    result = s3.delete_objects(Bucket="other", Delete={"Objects": [{"Key": "b/c.png"}, {"Key": "never.png"}]})
    assert sorted(d["Key"] for d in result["Deleted"]) == ["b/c.png", "never.png"]
    assert s3.list_objects_v2(Bucket="other")["KeyCount"] == 0


def test_multipart_upload_has_s3s_etag(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    parts = [b"a" * (5 << 20), b"b" * 1000]
    upload = s3.create_multipart_upload(Bucket="seed", Key="big.bin", ContentType="application/x-data")
    etags = [
        s3.upload_part(Bucket="seed", Key="big.bin", UploadId=upload["UploadId"], PartNumber=n, Body=p)["ETag"]
        for n, p in enumerate(parts, 1)
    ]
    done = s3.complete_multipart_upload(
        Bucket="seed",
        Key="big.bin",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]},
    )
    digests = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    assert done["ETag"] == f'"{hashlib.md5(digests, usedforsecurity=False).hexdigest()}-2"'
    head = s3.head_object(Bucket="seed", Key="big.bin")
    assert (head["ETag"], head["ContentLength"], head["ContentType"]) == (
        done["ETag"],
        sum(map(len, parts)),
        "application/x-data",
    )
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket="seed", Key="big.bin", UploadId=upload["UploadId"], PartNumber=3, Body=b"late")
    assert _code(exc) == "NoSuchUpload"


def test_multipart_refuses_a_wrong_part_etag_and_aborts(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    upload_id = s3.create_multipart_upload(Bucket="seed", Key="k")["UploadId"]
    s3.upload_part(Bucket="seed", Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.complete_multipart_upload(
            Bucket="seed", Key="k", UploadId=upload_id, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"00"'}]}
        )
    assert _code(exc) == "InvalidPart"
    s3.abort_multipart_upload(Bucket="seed", Key="k", UploadId=upload_id)
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket="seed", Key="k")


def test_keys_that_would_escape_the_bucket_are_refused(s3: Any, store: Store) -> None:
    s3.create_bucket(Bucket="seed")
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket="seed", Key="a/../../escape", Body=b"x")
    assert _code(exc) == "InvalidArgument"
    assert not (store.settings.buckets_dir / "escape").exists()


def test_unsupported_operation_names_itself(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    with pytest.raises(ClientError) as exc:
        s3.get_bucket_tagging(Bucket="seed")
    assert _code(exc) == "NotImplemented"
    assert "GetBucketTagging is not supported locally" in str(exc.value)


def test_overwriting_drops_the_old_metadata(s3: Any) -> None:
    s3.create_bucket(Bucket="seed")
    s3.put_object(Bucket="seed", Key="a.png", Body=b"v1", ContentType="text/plain", Metadata={"label": "1"})
    s3.put_object(Bucket="seed", Key="a.png", Body=b"v2", ContentType="image/png")
    head = s3.head_object(Bucket="seed", Key="a.png")
    assert (head["Metadata"], head["ContentType"]) == ({}, "image/png")
    assert head["ETag"] == f'"{hashlib.md5(b"v2", usedforsecurity=False).hexdigest()}"'
