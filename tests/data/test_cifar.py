from __future__ import annotations

import gzip
import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from scones.data import synthetic
from scones.data.cifar import read_archive, safe_loads
from scones.errors import DataError
from tests.data.archives import NAMES, members


def _members(n: int = 6) -> dict[str, bytes]:
    return members(per_class=n, seed=1)


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_reads_the_dev_archive(dev_archive: Path) -> None:
    data = read_archive(dev_archive)
    assert len(data.fine_label_names) == 100
    assert data.fine_label_names[8] == "bicycle" and data.fine_label_names[48] == "motorcycle"
    train, test = data.splits["train"], data.splits["test"]
    assert (len(train), len(test)) == (900, 100)
    assert sorted(set(train.fine_labels.tolist())) == [8, 48]
    assert np.bincount(test.fine_labels)[[8, 48]].tolist() == [50, 50]
    assert all(n.endswith(".png") for n in train.filenames)


def test_images_are_rows_as_rgb_planes(dev_archive: Path) -> None:
    train = read_archive(dev_archive).splits["train"]
    rows = np.array([0, 17, 899])
    images = train.images(rows)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8 and images.flags.c_contiguous
    for i, row in enumerate(rows):
        raw = train.data[row]
        for channel in range(3):  # 1024 red, then 1024 green, then 1024 blue, each row-major
            plane = raw[channel * 1024 : (channel + 1) * 1024]
            for y in (0, 13, 31):
                assert images[i, y, :, channel].tolist() == plane[y * 32 : (y + 1) * 32].tolist()


def test_synthetic_archive_round_trips(tmp_path: Path) -> None:
    members = _members()
    data = read_archive(synthetic.write_archive(tmp_path / "a.tar.gz", members))
    raw = pickle.loads(members["train"], encoding="bytes")  # trusted here: we just wrote it
    assert data.fine_label_names == NAMES
    assert np.array_equal(data.splits["train"].data, raw[b"data"])
    assert data.splits["train"].fine_labels.tolist() == raw[b"fine_labels"]


def test_python3_protocol2_pickles_load() -> None:
    value = {b"data": np.zeros((1, 3072), np.uint8), b"filenames": [b"a.png"]}
    loaded = safe_loads(pickle.dumps(value, protocol=2))  # bytes via _codecs.encode(..., "latin1")
    assert loaded[b"filenames"] == [b"a.png"] and loaded[b"data"].shape == (1, 3072)


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps({b"data": _Evil()}, protocol=2),
        pickle.dumps(eval, protocol=2),
        b"c__builtin__\neval\n(S'1+1'\ntR.",
        b"c_codecs\nencode\n(Vx\nVzlib\ntR.",
        pickle.dumps(np.array([None, 1], dtype=object), protocol=2),
    ],
    ids=["os.system", "builtins.eval", "py2-eval", "codecs-zlib", "object-array"],
)
def test_malicious_pickles_are_refused(tmp_path: Path, payload: bytes) -> None:
    members = {**_members(), "train": payload}
    with pytest.raises(DataError, match="refused: .*not a genuine CIFAR-100 pickle"):
        read_archive(synthetic.write_archive(tmp_path / "evil.tar.gz", members))


def test_truncated_archive(tmp_path: Path, dev_archive: Path) -> None:
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(dev_archive.read_bytes()[: dev_archive.stat().st_size // 2])
    with pytest.raises(DataError, match="not a readable tar archive.*truncated"):
        read_archive(cut)


def test_not_a_tar(tmp_path: Path) -> None:
    for name, data in [("random.bin", os.urandom(4096)), ("text.gz", gzip.compress(b"hello " * 1000))]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError, match="not a readable tar archive"):
            read_archive(path)


def _special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


@pytest.mark.parametrize(
    ("member", "message"),
    [
        (_file("cifar-100-python/../../evil", b"x"), "unsafe member name"),
        (_file("/etc/evil", b"x"), "unsafe member name"),
        (_special("cifar-100-python/link", tarfile.SYMTYPE, "/etc/passwd"), "link member"),
        (_special("cifar-100-python/hard", tarfile.LNKTYPE, "cifar-100-python/meta"), "link member"),
        (_special("cifar-100-python/dev", tarfile.CHRTYPE), "special file member"),
        (_special("cifar-100-python/fifo", tarfile.FIFOTYPE), "special file member"),
    ],
    ids=["dotdot", "absolute", "symlink", "hardlink", "device", "fifo"],
)
def test_unsafe_members_refuse_the_archive(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None], message: str
) -> None:
    good = [_file(f"cifar-100-python/{k}", v) for k, v in _members().items()]
    path = _tar(tmp_path / "bad.tar.gz", [*good, member])
    with pytest.raises(DataError, match=message):
        read_archive(path)
    assert not (tmp_path / "evil").exists()


def test_missing_members(tmp_path: Path) -> None:
    members = _members()
    del members["meta"]
    with pytest.raises(DataError, match="not a CIFAR-100 python archive.*found test, train"):
        read_archive(synthetic.write_archive(tmp_path / "a.tar.gz", members))


def _with_train(tmp_path: Path, **changes: object) -> Path:
    rng = np.random.default_rng(2)
    split = synthetic.random_split(rng, 2, NAMES, "training")
    split.update({k.encode(): v for k, v in changes.items()})
    return synthetic.write_archive(tmp_path / "a.tar.gz", {**_members(), "train": synthetic.py2_pickle(split)})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": np.zeros((10, 100), np.uint8)}, "uint8 N x 3072"),
        ({"data": np.zeros((10, 3072), np.int32)}, "uint8 N x 3072"),
        ({"fine_labels": [0] * 3}, "10 rows but 3 labels"),
        ({"fine_labels": [99] * 10}, r"fine labels must lie in 0\.\.4"),
        ({"fine_labels": ["0"] * 10}, "must be integers"),
        ({"filenames": [b"../../x.png"] * 10}, "not a plain"),
        ({"filenames": None}, "must be lists"),
    ],
)
def test_malformed_batches(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_archive(_with_train(tmp_path, **changes))


def test_garbage_pickle_and_non_dict(tmp_path: Path) -> None:
    for payload, message in [(b"\x80\x02garbage", "malformed pickle"), (synthetic.py2_pickle([1, 2]), "is not a dict")]:
        with pytest.raises(DataError, match=message):
            read_archive(synthetic.write_archive(tmp_path / "a.tar.gz", {**_members(), "train": payload}))
