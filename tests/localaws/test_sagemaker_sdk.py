"""The seed notebook's flow with the SageMaker Python SDK v2, unchanged but for three exported variables.

Session(default_bucket=...), image_uris.retrieve, Estimator + set_hyperparameters + fit on the
four channels (scones' trainer really trains, one epoch on a slice of the bike-moto export),
deploy with DataCaptureConfig, Model(...).deploy, a Predictor with IdentitySerializer, and
S3Downloader.download of what was captured. Needs the `sagemaker` package (requirements-sdk.lock).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from scones.config import Settings
from scones.endpoint import registry
from scones.model import jobs
from tests.localaws.sagemaker_helpers import ROLE, stage

pytestmark = pytest.mark.slow


def test_seed_notebook_flow_runs_unchanged(
    sagemaker_sdk: Any, s3: Any, bike_moto: Path, settings: Settings, tmp_path: Path
) -> None:
    sagemaker = sagemaker_sdk
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.model_monitor import DataCaptureConfig
    from sagemaker.predictor import Predictor
    from sagemaker.s3 import S3Downloader
    from sagemaker.serializers import IdentitySerializer

    bucket = "seed-bucket"
    stage(s3, bike_moto, bucket)
    try:
        # -- the seed notebook's cells (what a user edits: the bucket, the role ARN, the endpoint names) --
        session = sagemaker.Session(default_bucket=bucket)
        region = session.boto_region_name
        algo_image = sagemaker.image_uris.retrieve("image-classification", region)
        s3_output_location = f"s3://{bucket}/models/image_model"
        img_classifier_model = Estimator(
            algo_image,
            ROLE,
            instance_count=1,
            instance_type="ml.p3.2xlarge",
            output_path=s3_output_location,
            sagemaker_session=session,
        )
        img_classifier_model.set_hyperparameters(
            image_shape="3,32,32", num_classes=2, num_training_samples=64, epochs=1, mini_batch_size=32
        )
        model_inputs = {
            "train": TrainingInput(f"s3://{bucket}/train/", content_type="application/x-image"),
            "validation": TrainingInput(f"s3://{bucket}/test/", content_type="application/x-image"),
            "train_lst": TrainingInput(f"s3://{bucket}/train.lst", content_type="application/x-image"),
            "validation_lst": TrainingInput(f"s3://{bucket}/test.lst", content_type="application/x-image"),
        }
        img_classifier_model.fit(model_inputs)
        job_name = img_classifier_model.latest_training_job.name
        assert jobs.describe(settings, job_name)["status"] == "Completed"  # scones' trainer ran it
        assert img_classifier_model.model_data == f"{s3_output_location}/{job_name}/output/model.tar.gz"

        data_capture_config = DataCaptureConfig(
            enable_capture=True, sampling_percentage=100, destination_s3_uri=f"s3://{bucket}/data_capture"
        )
        deployment = img_classifier_model.deploy(
            initial_instance_count=1,
            instance_type="ml.m5.xlarge",
            data_capture_config=data_capture_config,
            endpoint_name="seed-endpoint",
        )
        assert deployment.endpoint_name == "seed-endpoint"
        second = Model(
            image_uri=algo_image, model_data=img_classifier_model.model_data, role=ROLE, sagemaker_session=session
        )
        second.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge", endpoint_name="second-endpoint")

        predictor = Predictor("seed-endpoint", sagemaker_session=session)
        predictor.serializer = IdentitySerializer("image/png")
        image = (bike_moto / "train" / "bike_s_000682.png").read_bytes()
        inference = predictor.predict(image)
        probabilities = json.loads(inference)
        assert len(probabilities) == 2 and abs(sum(probabilities) - 1) < 1e-4
        other = Predictor("second-endpoint", sagemaker_session=session, serializer=IdentitySerializer("image/png"))
        assert len(json.loads(other.predict(image))) == 2

        capture_uri = f"s3://{bucket}/data_capture/seed-endpoint"
        deadline = time.monotonic() + 30  # capture files are written every few seconds
        while not S3Downloader.list(capture_uri, sagemaker_session=session) and time.monotonic() < deadline:
            time.sleep(0.5)
        S3Downloader.download(capture_uri, str(tmp_path / "captured"), sagemaker_session=session)
        files = list((tmp_path / "captured").rglob("*.jsonl"))
        assert files, "no captured data downloaded"
        record = json.loads(files[0].read_text().splitlines()[0])
        assert record["captureData"]["endpointInput"]["observedContentType"] == "image/png"
        assert json.loads(record["captureData"]["endpointOutput"]["data"]) == probabilities
    finally:
        for endpoint in registry.list_endpoints(settings):  # no endpoint process outlives the test
            registry.delete(settings, endpoint.name)
