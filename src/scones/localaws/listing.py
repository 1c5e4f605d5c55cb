"""ListObjects (v1) and ListObjectsV2: Prefix, Delimiter, pagination and url encoding, as S3 answers them."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from scones.localaws.objects import Objects
from scones.localaws.protocol import AwsError

MAX_KEYS = 1000


def list_objects(objects: Objects, bucket: str, query: Mapping[str, str], v2: bool) -> dict[str, Any]:
    """The output members of ListObjects/ListObjectsV2 for one page."""
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    max_keys = _max_keys(query.get("max-keys"))
    if v2:
        token = query.get("continuation-token")
        after = _decode_token(token) if token else query.get("start-after", "")
    else:
        after = query.get("marker", "")
    contents: list[str] = []
    prefixes: list[str] = []
    truncated, last = False, ""
    for key in objects.walk(bucket, prefix):
        if key <= after:
            continue
        rolled = _rolled_up(key, prefix, delimiter)
        if rolled is not None and (rolled <= after or (prefixes and prefixes[-1] == rolled)):
            continue  # its keys were already summarised by this common prefix
        if len(contents) + len(prefixes) >= max_keys:
            truncated = True
            break
        if rolled is not None:
            prefixes.append(rolled)
            last = rolled
        else:
            contents.append(key)
            last = key
    encode = query.get("encoding-type") == "url"
    shown = (lambda s: quote(s, safe="/")) if encode else (lambda s: s)
    out: dict[str, Any] = {
        "Name": bucket,
        "Prefix": shown(prefix),
        "MaxKeys": max_keys,
        "IsTruncated": truncated,
        "Contents": [_entry(objects, bucket, key, shown) for key in contents],
        "CommonPrefixes": [{"Prefix": shown(p)} for p in prefixes],
        "Delimiter": shown(delimiter) if delimiter else None,
        "EncodingType": "url" if encode else None,
    }
    if v2:
        out["KeyCount"] = len(contents) + len(prefixes)
        out["ContinuationToken"] = query.get("continuation-token")
        out["StartAfter"] = shown(query["start-after"]) if "start-after" in query else None
        out["NextContinuationToken"] = _encode_token(last) if truncated else None
    else:
        out["Marker"] = shown(after)
        # S3 sends NextMarker only with a delimiter; without one, clients continue from the last key.
        out["NextMarker"] = shown(last) if truncated and delimiter else None
    return out


def _rolled_up(key: str, prefix: str, delimiter: str) -> str | None:
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    return key[: at + len(delimiter)] if at >= 0 else None


def _entry(objects: Objects, bucket: str, key: str, shown: Any) -> dict[str, Any]:
    meta = objects.head(bucket, key)
    return {
        "Key": shown(key),
        "LastModified": meta.modified,
        "ETag": meta.etag,
        "Size": meta.size,
        "StorageClass": "STANDARD",
    }


def _max_keys(raw: str | None) -> int:
    if raw is None:
        return MAX_KEYS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise AwsError("InvalidArgument", f"max-keys {raw!r} is not a non-negative integer")
    return min(value, MAX_KEYS)


def _encode_token(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise AwsError("InvalidArgument", "The continuation token provided is incorrect") from exc
