"""The AWS CLI (v1, on PATH) against the real server: s3 sync, cp (multipart), ls, rm --recursive."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from scones.storage import Store

pytestmark = pytest.mark.skipif(shutil.which("aws") is None, reason="the AWS CLI is not on PATH")


def aws(url: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
    )
    done = subprocess.run(["aws", *args], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_sync_ls_and_rm_recursive(local_aws: str, tmp_path: Path, store: Store) -> None:
    src = tmp_path / "staged"
    for split, count in (("train", 12), ("test", 3)):
        (src / split).mkdir(parents=True)
        for i in range(count):
            (src / split / f"img_{i}.png").write_bytes(os.urandom(2048))
    (src / "train.lst").write_text("0\t0\ttrain/img_0.png\n")
    aws(local_aws, "s3", "mb", "s3://seed")
    out = aws(local_aws, "s3", "sync", str(src), "s3://seed/data")
    assert out.count("upload:") == 16
    assert store.get("seed", "data/train/img_4.png") == (src / "train" / "img_4.png").read_bytes()
    assert aws(local_aws, "s3", "sync", str(src), "s3://seed/data") == ""  # nothing changed: nothing sent
    listing = aws(local_aws, "s3", "ls", "s3://seed/data/")
    assert "PRE test/" in listing and "PRE train/" in listing and "train.lst" in listing
    assert len(aws(local_aws, "s3", "ls", "--recursive", "s3://seed/data/train/").splitlines()) == 12
    back = tmp_path / "back"
    aws(local_aws, "s3", "sync", "s3://seed/data", str(back))
    assert sorted(p.relative_to(back) for p in back.rglob("*")) == sorted(p.relative_to(src) for p in src.rglob("*"))
    out = aws(local_aws, "s3", "rm", "--recursive", "s3://seed/data/train/")
    assert out.count("delete:") == 12
    assert aws(local_aws, "s3", "ls", "--recursive", "s3://seed/").count("data/") == 4


def test_cp_of_20_mb_goes_multipart_and_round_trips(local_aws: str, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(20 << 20))
    aws(local_aws, "s3", "mb", "s3://seed")
    aws(local_aws, "s3", "cp", str(big), "s3://seed/big.bin")
    head = aws(local_aws, "s3api", "head-object", "--bucket", "seed", "--key", "big.bin")
    assert '-3\\""' in head  # 8 MB parts: three of them, S3's multipart ETag
    aws(local_aws, "s3", "cp", "s3://seed/big.bin", str(tmp_path / "back.bin"))
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()


def test_sts_and_unsupported_calls(local_aws: str) -> None:
    assert '"Account": "000000000000"' in aws(local_aws, "sts", "get-caller-identity")
    env = dict(os.environ, AWS_ENDPOINT_URL=local_aws)
    done = subprocess.run(
        ["aws", "s3api", "get-bucket-policy", "--bucket", "seed"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "GetBucketPolicy is not supported locally" in done.stderr
