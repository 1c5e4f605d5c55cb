from __future__ import annotations

from importlib import metadata
from pathlib import Path

from scones.aws import container


def test_dockerfile_serves_under_the_sagemaker_contract() -> None:
    text = container.dockerfile()
    assert text.startswith("# scones")
    assert "FROM python:3." in text
    assert 'CMD ["serve"]' in text  # SageMaker runs `docker run IMAGE serve`
    assert f"onnxruntime=={metadata.version('onnxruntime')}" in text
    assert "torch" not in text  # serving runs on ONNX Runtime only
    assert "USER scones" in text
    assert "/opt/ml/model" in container.SERVE_SCRIPT
    assert "SAGEMAKER_BIND_TO_PORT:-8080" in container.SERVE_SCRIPT


def test_build_context_is_complete(tmp_path: Path) -> None:
    root = container.write_context(tmp_path / "ctx")
    assert (root / "Dockerfile").is_file()
    assert (root / "serve").stat().st_mode & 0o111
    assert (root / "src" / "scones" / "cli" / "__init__.py").is_file()
    assert (root / "src" / "scones" / "endpoint").is_dir()
    assert not list(root.rglob("__pycache__"))
    assert 'scones = "scones.cli:main"' in (root / "pyproject.toml").read_text()
