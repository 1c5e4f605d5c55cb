from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from scones.aws import AwsOptions, export
from scones.aws.errors import AwsError
from scones.config import Settings


def test_export_writes_every_artefact(settings: Settings, model_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "out"
    options = AwsOptions(bucket="team-bucket", region="us-west-2")
    plan = export(target, options, settings, str(model_file), account="111122223333")
    assert plan.account == "111122223333"
    asl = json.loads((target / "pipeline.asl.json").read_text())
    assert "arn:aws:lambda:us-west-2:111122223333:function:scones-classify-image" in json.dumps(asl)
    policies = sorted(p.name for p in (target / "policies").iterdir())
    assert policies == sorted([f"{plan.role_name(r)}.json" for r in plan.roles] + ["scones-deployer-rollout.json"])
    deployer = json.loads((target / "policies" / "scones-deployer-rollout.json").read_text())
    assert "application-autoscaling:PutScalingPolicy" in json.dumps(deployer)
    for zip_path in (target / "lambda").iterdir():
        assert zipfile.ZipFile(zip_path).testzip() is None
    assert len(list((target / "lambda").iterdir())) == 3
    assert (target / "container" / "Dockerfile").is_file()
    assert (target / "models" / f"{plan.model_name}.tar.gz").read_bytes() == model_file.read_bytes()
    template = json.loads((target / "template.json").read_text())
    assert "AWS::SageMaker::Endpoint" in {r["Type"] for r in template["Resources"].values()}
    assert "aws cloudformation deploy" in (target / "README.md").read_text()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left


def test_export_refuses_a_non_empty_folder(settings: Settings, model_file: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(AwsError, match="not an empty folder"):
        export(
            tmp_path / "out",
            AwsOptions(bucket="team-bucket", region="us-west-2"),
            settings,
            str(model_file),
            "111122223333",
        )
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"


def test_export_asks_sts_for_the_account(aws_env: str, settings: Settings, model_file: Path, tmp_path: Path) -> None:
    plan = export(tmp_path / "out", AwsOptions(bucket="team-bucket", region="us-east-1"), settings, str(model_file))
    assert plan.account == "123456789012"  # moto's account
