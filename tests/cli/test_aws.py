"""`scones aws ...` through the CLI runner, against moto over HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scones.cli import app
from tests.aws.conftest import aws_env, staged  # noqa: F401  (fixtures)

runner = CliRunner()


def test_dry_run_then_deploy_then_destroy(aws_env: str, staged: object, model_file: Path) -> None:  # noqa: F811
    tag = uuid.uuid4().hex[:8]
    common = ["--bucket", f"cli-{tag}", "--region", "us-east-1"]
    deploy = ["aws", "deploy", *common, "--model", str(model_file), "--name", f"c{tag}"]
    deploy += ["--endpoint-name", f"ep-{tag}", "--image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"]
    dry = runner.invoke(app, [*deploy, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Would create or update" in dry.output and "state-machine" in dry.output
    done = runner.invoke(app, deploy)
    assert done.exit_code == 0, done.output
    assert "scones aws destroy" in done.output
    refused = runner.invoke(app, ["aws", "destroy", *common], input="n\n")
    assert refused.exit_code == 1 and "Nothing deleted" in refused.output
    gone = runner.invoke(app, ["aws", "destroy", *common, "--yes"])
    assert gone.exit_code == 0 and "Removed 17 resources" in gone.output, gone.output
    again = runner.invoke(app, ["aws", "destroy", *common, "--yes"])
    assert again.exit_code == 1 and "nothing to destroy" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["aws", "deploy", "--bucket", "Bad_Name", "--region", "us-east-1"], "Invalid bucket name"),
        (["aws", "deploy", "--bucket", "good-name", "--region", "mars"], "not an AWS region"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_export_command(tmp_path: Path, model_file: Path) -> None:  # noqa: F811
    out = tmp_path / "export"
    args = ["aws", "export", str(out), "--bucket", "team-b", "--account", "111122223333", "--model", str(model_file)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / "template.json").is_file() and (out / "README.md").is_file()
