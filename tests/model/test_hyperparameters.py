from __future__ import annotations

import pytest

from scones.errors import TrainingError
from scones.model.hyperparameters import NAMES, parse, parse_pairs


def test_defaults_are_valid_and_sagemaker_names_exist() -> None:
    hp = parse()
    assert hp.shape == (3, 32, 32) and hp.num_classes == 2 and hp.lr_steps == []
    for name in (
        "image_shape",
        "num_classes",
        "num_training_samples",
        "epochs",
        "learning_rate",
        "mini_batch_size",
        "optimizer",
        "momentum",
        "weight_decay",
        "num_layers",
        "augmentation_type",
        "lr_scheduler_factor",
        "lr_scheduler_step",
        "early_stopping",
        "early_stopping_min_epochs",
        "early_stopping_patience",
        "early_stopping_tolerance",
        "checkpoint_frequency",
    ):
        assert name in NAMES


def test_strings_as_sagemaker_passes_them() -> None:
    hp = parse(
        {
            "epochs": "30",
            "learning_rate": "0.05",
            "early_stopping": "True",
            "lr_scheduler_step": "10,20",
            "num_layers": "32",
            "optimizer": "Adam",
            "num_training_samples": "1000",
            "checkpoint_frequency": "None",
        }
    )
    assert (hp.epochs, hp.learning_rate, hp.early_stopping, hp.num_layers) == (30, 0.05, True, 32)
    assert hp.lr_steps == [10, 20] and hp.optimizer == "adam" and hp.num_training_samples == 1000
    assert hp.checkpoint_frequency is None
    assert parse({"epochs": 3.0, "early_stopping": False}).epochs == 3


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "ten"}, "epochs='ten' is invalid; expected an integer"),
        ({"epochs": "2.5"}, "expected an integer"),
        ({"epochs": "0"}, "epochs=0"),
        ({"learning_rate": "fast"}, "expected a number"),
        ({"early_stopping": "maybe"}, "True or False"),
        ({"optimizer": "lion"}, "one of sgd, adam, rmsprop, nag"),
        ({"augmentation_type": "rotate"}, "crop_color_transform"),
        ({"num_layers": "18"}, "6n\\+2 for small images: 20, 32, 44, 56, 110"),
        ({"image_shape": "3,224"}, "C,H,W"),
        ({"image_shape": "1,32,32"}, "RGB"),
        ({"lr_scheduler_step": "20,10"}, "increasing"),
        ({"lr_scheduler_step": "ten"}, "comma-separated"),
        ({"checkpoint_frequency": "500"}, "from 1 to epochs"),
        ({"momentum": "1.5"}, "momentum"),
        ({"use_pretrained_model": "1"}, "use_pretrained_model=1 is invalid; expected pretrained_weights=PATH"),
        ({"num_classes": "1"}, "num_classes"),
        ({"precision_dtype": "float16"}, "one of float32, bfloat16"),
        ({"architecture": "vgg"}, "one of resnet, airbench"),
        ({"ensemble": "0"}, "ensemble=0 is invalid; expected an integer from 1 to 8"),
        ({"mix": "mosaic"}, "one of none, mixup, cutmix"),
        ({"augmentation_type": "trivialaugment"}, "crop_color_transform, trivial"),
        ({"sam_rho": "-0.05"}, "sam_rho=-0.05 is invalid"),
        ({"warp": "True"}, "warp=True is invalid; expected False unless augmentation_type=crop_color_transform"),
        ({"sam_rho": "big"}, "sam_rho='big' is invalid; expected a number"),
        ({"epoch": "3"}, "Unknown hyperparameter epoch; known: image_shape"),
    ],
)
def test_invalid_values_are_clear_errors(values: dict[str, str], message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        parse(values)


def test_pairs_and_replace() -> None:
    assert parse_pairs(["epochs=3", " seed = 7 "]) == {"epochs": "3", "seed": "7"}
    with pytest.raises(TrainingError, match="KEY=VALUE"):
        parse_pairs(["epochs"])
    hp = parse().replace(epochs=5)
    assert hp.epochs == 5 and hp.seed == parse().seed
    with pytest.raises(TrainingError):
        parse().replace(epochs=-1)


def test_width_defaults_to_the_architectures_own() -> None:
    assert parse().architecture == "airbench" and parse().width is None and parse().channels == 32
    assert parse().augmentation_type == "trivial_wide" and parse().epochs == 320
    assert parse({"architecture": "resnet"}).channels == 16
    assert parse({"architecture": "resnet", "width": "32"}).channels == 32
    assert parse({"width": "None"}).channels == 32
