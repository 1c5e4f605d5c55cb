from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from scones.errors import InvalidKey
from scones.keys import join_key, parse_s3_uri, validate_bucket, validate_key


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a\\b", "a\x00b", "C:/x", "a/\n", "x" * 1025],
)
def test_keys_that_escape_or_are_malformed_are_refused(key: str) -> None:
    with pytest.raises(InvalidKey, match="key"):
        validate_key(key)


@pytest.mark.parametrize("key", ["a", "data/train/bicycle_s_000030.png", "a/b.c/d-e_f", "..a/b..", "ü/ß.png"])
def test_ordinary_keys_pass(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize("bucket", ["", "ab", "UPPER", "a_b", "-ab", "a..b", "x" * 64])
def test_bad_bucket_names_are_refused(bucket: str) -> None:
    with pytest.raises(InvalidKey, match="bucket"):
        validate_bucket(bucket)


def test_parse_s3_uri() -> None:
    assert parse_s3_uri("s3://scones/data/train.lst") == ("scones", "data/train.lst")
    assert parse_s3_uri("s3://scones/") == ("scones", "")
    with pytest.raises(InvalidKey, match="s3://"):
        parse_s3_uri("http://scones/x")
    with pytest.raises(InvalidKey):
        parse_s3_uri("s3://scones/../etc")


def test_join_key_skips_empty_parts() -> None:
    assert join_key("", "data/", "/train.lst") == "data/train.lst"


@given(st.lists(st.sampled_from(["a", "..", ".", "", "b", "\\", "\x00", "/"]), min_size=1, max_size=6))
def test_validated_keys_never_leave_the_bucket(parts: list[str]) -> None:
    key = "/".join(parts)
    try:
        validate_key(key)
    except InvalidKey:
        return
    # what passes resolves strictly inside a bucket folder
    import posixpath

    resolved = posixpath.normpath(posixpath.join("/bucket", key))
    assert resolved.startswith("/bucket/")
