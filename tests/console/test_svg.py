"""The server-rendered pictures: the state graph's colours and layout, the accuracy chart."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from scones.console import svg
from scones.workflow.machines import pipeline_definition

NS = {"s": "http://www.w3.org/2000/svg"}


def _states(markup: str) -> dict[str, tuple[str, str]]:
    root = ET.fromstring(markup.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))  # noqa: S314 - our own markup
    found = {}
    for group in root.iter("{http://www.w3.org/2000/svg}g"):
        rect = group.find("s:rect", NS)
        assert rect is not None
        found[group.attrib["data-state"]] = (group.attrib["data-outcome"], rect.attrib["stroke"])
    return found


def test_the_pipeline_graph_colours_each_state_by_its_outcome() -> None:
    definition = json.loads(pipeline_definition())
    markup = svg.state_graph(definition, {"serializeImageData": "succeeded", "classify": "failed"}, "t")
    assert _states(markup) == {
        "serializeImageData": ("succeeded", "#1b7f3b"),
        "classify": ("failed", "#c81e1e"),
        "filterInferences": ("not_reached", "#8a939c"),
    }
    assert "<title" in markup and 'role="img"' in markup
    assert "classify (Task): failed" in markup  # the outcome in words too, not only a colour


def test_catch_branches_and_fail_states_are_drawn() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Next": "B", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}]},
            "B": {"Type": "Choice", "Choices": [{"Next": "A"}], "Default": "Done"},
            "Done": {"Type": "Succeed"},
            "Oops": {"Type": "Fail"},
            "Orphan": {"Type": "Pass", "End": True},
        },
    }
    markup = svg.state_graph(definition, {"A": "caught", "Oops": "failed"}, "t")
    assert set(_states(markup)) == {"A", "B", "Done", "Oops", "Orphan"}
    assert 'stroke-dasharray="6 4"' in markup  # the catch edge is dashed
    assert svg.state_graph({"States": {}}, {}, "t") == ""


def test_the_line_chart_scales_points_and_marks_the_kept_epoch() -> None:
    series = {"train accuracy": [(0, 0.5), (1, 0.75), (2, 1.0)], "validation accuracy": [(0, 0.5), (1, 0.9), (2, 0.8)]}
    markup = svg.line_chart(series, "Accuracy <per> epoch", marker_x=1)
    assert markup.count("<polyline") == 2
    assert "Accuracy &lt;per&gt; epoch" in markup  # escaped
    assert "kept epoch 1" in markup
    first = re.search(r'<polyline points="([^"]+)"', markup)
    assert first is not None
    (x0, y0), *_, (x2, y2) = [tuple(map(float, p.split(","))) for p in first.group(1).split()]
    assert x0 < x2 and y0 > y2  # later epochs to the right, higher accuracy higher up
    assert svg.line_chart({}, "empty") == ""
