from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scones.data.download import DownloadConfig, download, load_config
from scones.errors import ConfigError, DownloadError
from tests.data.http_server import Site, serve

BODY = os.urandom(300_000)
MD5 = hashlib.md5(BODY, usedforsecurity=False).hexdigest()
FAST = DownloadConfig(retries=3, backoff=0.01, timeout=5.0)


@pytest.fixture
def site() -> Iterator[Site]:
    with serve(Site(files={"/cifar.tar.gz": BODY})) as running:
        yield running


def test_download_and_verify(site: Site, tmp_path: Path) -> None:
    dest = download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", md5=MD5, config=FAST)
    assert dest.read_bytes() == BODY
    assert not (tmp_path / "a.tar.gz.part").exists()


def test_dropped_connection_resumes_with_range(site: Site, tmp_path: Path) -> None:
    site.drop_after = [100_000, 50_000]
    dest = download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", md5=MD5, config=FAST)
    assert dest.read_bytes() == BODY
    assert [r for _, r in site.requests] == [None, "bytes=100000-", "bytes=150000-"]


def test_server_ignoring_range_starts_over(site: Site, tmp_path: Path) -> None:
    site.drop_after, site.honour_range = [100_000], False
    dest = download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", md5=MD5, config=FAST)
    assert dest.read_bytes() == BODY


def test_resumes_a_part_file_left_by_an_earlier_run(site: Site, tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz.part").write_bytes(BODY[:1234])
    download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", md5=MD5, config=FAST)
    assert (tmp_path / "a.tar.gz").read_bytes() == BODY and site.requests[0][1] == "bytes=1234-"


def test_already_complete_part_file(site: Site, tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz.part").write_bytes(BODY)
    assert download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", md5=MD5, config=FAST).read_bytes() == BODY


def test_retries_server_errors(site: Site, tmp_path: Path) -> None:
    site.fail_first = 2
    assert download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", config=FAST).read_bytes() == BODY
    assert len(site.requests) == 3


def test_wrong_checksum_leaves_nothing(site: Site, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=f"has md5 {MD5}, expected 0+; .*corrupt"):
        download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", md5="0" * 32, config=FAST)
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_gives_up_after_retries(site: Site, tmp_path: Path) -> None:
    site.drop_after = [10_000] * 10
    with pytest.raises(DownloadError, match="failed after 4 attempts.*--source PATH"):
        download(f"{site.url}/cifar.tar.gz", tmp_path / "a.tar.gz", md5=MD5, config=FAST)
    assert not (tmp_path / "a.tar.gz").exists()
    assert len(site.requests) == 4


def test_http_errors_are_not_retried(site: Site, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404; check the URL"):
        download(f"{site.url}/missing.tar.gz", tmp_path / "a.tar.gz", config=FAST)
    assert len(site.requests) == 1


def test_offline_host_fails_fast_with_the_hint(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"no network .*pass --source PATH"):
        download("http://cifar.invalid/cifar-100-python.tar.gz", tmp_path / "a.tar.gz", config=FAST)


def test_unreachable_server_is_retried_then_reported(tmp_path: Path) -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}/a.tar.gz"
    with pytest.raises(DownloadError, match="failed after 2 attempts"):
        download(url, tmp_path / "a.tar.gz", config=DownloadConfig(retries=1, backoff=0.01, timeout=2.0))


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCONES_DOWNLOAD_RETRIES", "7")
    assert load_config().retries == 7
    monkeypatch.setenv("SCONES_DOWNLOAD_RETRIES", "many")
    with pytest.raises(ConfigError, match="retries"):
        load_config()
