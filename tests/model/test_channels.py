"""Where a training job finds its channels: the staged layout, an s3:// prefix, a local folder."""

from __future__ import annotations

import pytest

from scones.config import Settings
from scones.errors import DataError, InvalidKey
from scones.model.channels import Channels, data_checksum, read_channels
from scones.model.hyperparameters import parse
from scones.progress import NullProgress
from scones.storage import Store
from tests.model.conftest import TINY


def test_no_data_is_what_scones_stage_wrote(settings: Settings) -> None:
    assert Channels.located(settings) == Channels.staged(settings) == Channels.under("s3://scones/data")
    assert Channels.located(settings, None, validation="s3://other/val").validation == "s3://other/val"


def test_an_s3_prefix_holds_the_staged_layout(settings: Settings) -> None:
    channels = Channels.located(settings, "s3://other/runs/v2/", train_lst="s3://other/carved.lst")
    assert channels == Channels(
        train="s3://other/runs/v2/train",
        validation="s3://other/runs/v2/test",
        train_lst="s3://other/carved.lst",
        validation_lst="s3://other/runs/v2/test.lst",
    )


def test_a_local_folder_holds_the_staged_layout(settings: Settings) -> None:
    channels = Channels.located(settings, "/data/bike-moto/")
    assert channels.train == "/data/bike-moto/train" and channels.validation_lst == "/data/bike-moto/test.lst"


def test_a_bad_bucket_in_the_prefix_is_a_clear_error(settings: Settings) -> None:
    with pytest.raises(InvalidKey, match="bucket"):
        Channels.located(settings, "s3://Bad_Bucket/data")


def test_read_channels_gives_tensors_classes_and_the_checksum_a_job_records(staged: Store, settings: Settings) -> None:
    channels = Channels.staged(settings)
    data = read_channels(staged, channels, parse(TINY), NullProgress())
    assert tuple(data.x_train.shape) == (64, 3, 32, 32) and tuple(data.x_val.shape) == (16, 3, 32, 32)
    assert 0 <= float(data.x_train.min()) and float(data.x_train.max()) <= 1
    assert data.classes == ["bicycle", "motorcycle"]
    assert data.checksum == data_checksum(staged, channels)


def test_data_checksum_of_nothing_staged_says_stage_first(store: Store, settings: Settings) -> None:
    with pytest.raises(DataError, match="scones stage"):
        data_checksum(store, Channels.staged(settings))


def test_auto_loading_streams_only_when_the_decoded_images_would_be_large(
    staged: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from scones.model import channels as channels_module

    channels = Channels.staged(settings)
    in_memory = read_channels(staged, channels, parse(TINY), NullProgress())
    assert in_memory.streamed is None  # 80 images of 32x32: far below the threshold
    monkeypatch.setattr(channels_module, "STREAM_ABOVE_BYTES", 80 * 3 * 32 * 32 * 4 - 1)
    streamed = read_channels(staged, channels, parse(TINY), NullProgress())
    assert streamed.streamed is not None and not hasattr(streamed, "x_train")
    assert streamed.checksum == in_memory.checksum
    order = torch.randperm(64, generator=torch.Generator().manual_seed(1))
    for a, b in zip(streamed.train_batches(order, 16, 4), in_memory.train_batches(order, 16, 4), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(torch.cat(list(streamed.validation_batches(5))), in_memory.x_val)
    assert torch.equal(streamed.init_sample(0), in_memory.x_train)  # fewer than INIT_SAMPLE: all of them
    assert torch.equal(streamed.validation_head(3), in_memory.x_val[:3])
