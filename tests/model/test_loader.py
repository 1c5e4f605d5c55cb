"""The streaming loader: what its worker processes hand back, and when it decodes in this process."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from scones.data.dataset import index_split, read_split
from scones.errors import BadImage
from scones.model import loader
from scones.model.loader import in_groups, pixel_batches
from scones.storage import Store
from tests.helpers import png_bytes


def _stage(store: Store, count: int = 9) -> None:
    colours = [(200, 30, 30), (30, 30, 200), (128, 128, 128)]
    for i in range(count):
        store.put("scones", f"data/test/c{i}.png", png_bytes(colours[i % 3], size=20 + i))
    store.put("scones", "data/test.lst", "".join(f"{i}\t{i % 2}\tc{i}.png\n" for i in range(count)).encode())


def test_workers_decode_the_pixels_read_split_reads(store: Store) -> None:
    _stage(store)
    index = index_split(store, "s3://scones/data/test", "s3://scones/data/test.lst", size=(16, 16), checksum=False)
    whole = read_split(store, "s3://scones/data/test", "s3://scones/data/test.lst", size=(16, 16)).images
    streamed = np.concatenate(list(pixel_batches(index, in_groups(len(index), 4), workers=2)))
    np.testing.assert_array_equal(streamed, whole)
    assert [len(g) for g in in_groups(9, 4)] == [4, 4, 1]


def test_a_workers_error_is_raised_as_itself_in_one_line(store: Store) -> None:
    _stage(store)
    store.put("scones", "data/test/c5.png", b"\x89PNG\r\n\x1a\n truncated")
    index = index_split(store, "s3://scones/data/test", "s3://scones/data/test.lst", size=(16, 16), checksum=False)
    with pytest.raises(BadImage) as error:
        list(pixel_batches(index, in_groups(len(index), 2), workers=2))
    message = str(error.value)
    assert "c5.png is not a readable image" in message and "\n" not in message and "worker" not in message


def test_a_server_thread_decodes_in_its_own_process(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _stage(store)
    index = index_split(store, "s3://scones/data/test", "s3://scones/data/test.lst", size=(16, 16), checksum=False)
    asked: list[int] = []
    real = loader.DataLoader
    monkeypatch.setattr(loader, "DataLoader", lambda *a, **k: asked.append(k["num_workers"]) or real(*a, **k))
    list(pixel_batches(index, in_groups(len(index), 4), workers=2))  # the main thread, three batches
    thread = threading.Thread(target=lambda: list(pixel_batches(index, in_groups(len(index), 4), workers=2)))
    thread.start()
    thread.join()
    list(pixel_batches(index, in_groups(len(index), 9), workers=2))  # one batch
    assert asked == [2, 0, 0]
