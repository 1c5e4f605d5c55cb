"""Bucket names, object keys and `s3://` URIs: parsing and validation.

Standard library only, so the Lambda functions can bundle it. Every key that reaches a store
goes through `validate_key`, which is what keeps a key from escaping its bucket when buckets
are folders on disk.
"""

from __future__ import annotations

import re

from scones.errors import InvalidKey

# S3's rules for bucket names, simplified: 3-63 chars of lowercase letters, digits, dots, hyphens.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024  # S3's limit
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # one regex scan: keys are validated per object in bulk syncs


def validate_bucket(bucket: str) -> str:
    """Return `bucket` if it is a valid bucket name, else raise InvalidKey."""
    if not isinstance(bucket, str) or not _BUCKET.match(bucket) or ".." in bucket:
        raise InvalidKey(f"Invalid bucket name {_shown(bucket)}: use 3-63 lowercase letters, digits, dots or hyphens")
    return bucket


def validate_key(key: str) -> str:
    """Return `key` if it stays inside its bucket, else raise InvalidKey.

    Refused: empty keys, absolute paths, `.` or `..` segments, empty segments, backslashes,
    NUL and other control characters, and keys over S3's 1024-byte limit.
    """
    if not isinstance(key, str) or not key:
        raise InvalidKey("Empty object key: give a key such as 'data/test/bicycle_s_000030.png'")
    problem = _key_problem(key)
    if problem:
        raise InvalidKey(f"Refused object key {_shown(key)}: {problem}; keys are relative paths inside the bucket")
    return key


def _shown(value: object) -> str:
    """repr of `value` cut to a readable length: error messages must not echo megabytes back."""
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:100]}... ({len(text)} characters)"


def _key_problem(key: str) -> str | None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        return f"longer than {MAX_KEY_BYTES} bytes"
    if _CONTROL.search(key):
        return "it contains a NUL or control character"
    if "\\" in key:
        return "it contains a backslash"
    if key.startswith("/") or re.match(r"^[A-Za-z]:", key):
        return "it is an absolute path"
    segments = key.rstrip("/").split("/")
    if any(s in (".", "..") for s in segments):
        return "it contains a '.' or '..' segment"
    if any(s == "" for s in segments):
        return "it contains an empty path segment ('//')"
    return None


def validate_prefix(prefix: str) -> str:
    """A prefix is a key or empty; returned without leading/trailing slashes."""
    prefix = prefix.strip("/")
    if prefix:
        validate_key(prefix)
    return prefix


def join_key(*parts: str) -> str:
    """Join key parts with '/', skipping empty ones, and validate the result."""
    return validate_key("/".join(p.strip("/") for p in parts if p and p.strip("/")))


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split `s3://bucket/key/...` into a valid (bucket, key); the key may be empty."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidKey(f"Not an s3:// URI: {_shown(uri)}; write it as s3://BUCKET/KEY")
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    validate_bucket(bucket)
    key = key.rstrip("/")
    if key:
        validate_key(key)
    return bucket, key


def s3_uri(bucket: str, key: str = "") -> str:
    """Build `s3://bucket/key`."""
    return f"s3://{bucket}/{key}" if key else f"s3://{bucket}"
