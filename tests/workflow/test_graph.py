from __future__ import annotations

import re
from typing import Any

from scones.config import Settings
from scones.workflow import executions, graph, records
from tests.workflow.conftest import DEFINITIONS


def state_colours(svg_text: str) -> dict[str, str]:
    return dict(re.findall(r'data-state="([^"]+)" data-colour="([^"]+)"', svg_text))


def test_graph_colours_a_failed_execution(settings: Settings, pipeline: Any, images: dict[str, str]) -> None:
    execution = executions.start(settings, "pipeline", {"s3_bucket": "scones", "s3_key": "data/test/none.png"})
    assert execution.error == "ImageNotFound"
    paths = graph.draw(pipeline.definition, settings.home / "g" / "pipeline", records.history(settings, execution))
    svg_path, png_path = paths
    assert png_path.read_bytes().startswith(b"\x89PNG")
    colours = state_colours(svg_path.read_text())
    assert colours == {"serializeImageData": graph.RED, "classify": graph.GREY, "filterInferences": graph.GREY}


def test_graph_of_a_success_and_of_catch_edges(settings: Settings, pipeline: Any, stubs: dict[str, Any]) -> None:
    execution = executions.start(settings, "pipeline", {"s3_bucket": "scones", "s3_key": "k"})
    svg_text = graph.svg(graph.asl_load(pipeline.definition), records.history(settings, execution))
    assert set(state_colours(svg_text).values()) == {graph.GREEN}
    console = graph.asl_load((DEFINITIONS / "console_payload_object.asl.json").read_text())
    order, edges = graph.layout(console)
    assert order[-1] == "Fail" and sum(e.catch for e in edges) == 3
    assert "stroke-dasharray" in graph.svg(console)
