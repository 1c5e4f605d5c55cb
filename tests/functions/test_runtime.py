from __future__ import annotations

import json
import traceback

import pytest

from scones.errors import WorkflowError
from scones.functions import NAMES, runtime
from scones.storage import Store


def test_error_document_is_lambdas_shape(store: Store) -> None:
    response = runtime.invoke("serialize_image_data", {"s3_bucket": "scones", "s3_key": "missing.png"})
    assert response["FunctionError"] == "Unhandled"
    doc = response["Payload"]
    assert set(doc) == {"errorType", "errorMessage", "stackTrace"}
    assert doc["errorType"] == "ImageNotFound"
    assert "missing.png" in doc["errorMessage"]
    assert all(isinstance(line, str) for line in doc["stackTrace"]) and doc["stackTrace"]


def test_stack_trace_lines_are_format_tbs_without_column_markers() -> None:
    def inner() -> None:
        {"a": 1}["b"]  # noqa: B018 - the KeyError is the point

    try:
        inner()
    except KeyError as exc:
        expected = [
            "".join(line for line in entry.splitlines(keepends=True) if set(line.strip()) - set("^~"))
            for entry in traceback.format_tb(exc.__traceback__)
        ]
        assert runtime.error_document(exc)["stackTrace"] == expected


def test_success_response(store: Store) -> None:
    response = runtime.invoke("filter_inferences", {"inferences": [0.99, 0.01]})
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert response["Payload"]["body"]["inferences"] == [0.99, 0.01]


def test_unserialisable_result_is_a_marshal_error() -> None:
    response = runtime.invoke("x", {}, handler=lambda event, context: {"bytes": b"raw"})
    assert response["Payload"]["errorType"] == "Runtime.MarshalError"


def test_unknown_function() -> None:
    with pytest.raises(WorkflowError, match="serialize_image_data"):
        runtime.handler_for("nope")


def test_functions_stay_light() -> None:
    """The handlers import only the standard library, boto3 and stdlib-only scones modules."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        f"for n in {list(NAMES)!r}: __import__('scones.functions.' + n)\n"
        "heavy = [m for m in ('numpy', 'torch', 'fsspec', 'scones.storage', 'PIL')"
        " if m in sys.modules]\n"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, 2.5, None, True, "x" * 5000], "b": {"c": (1, [2, (3,)])}},
        {1: "int key", 1.5: "float key", False: "bool key", None: "null key"},
        [float("inf"), -0.0, 10**30],
        "plain",
    ],
)
def test_wire_copy_is_the_json_round_trip(value: object) -> None:
    copied = runtime.wire_copy(value)
    assert json.dumps(copied) == json.dumps(json.loads(json.dumps(value)))
    if isinstance(value, dict):
        assert copied is not value


def test_wire_copy_raises_what_json_raises() -> None:
    with pytest.raises(TypeError, match="bytes is not JSON serializable"):
        runtime.wire_copy({"raw": b"x"})
    cycle: list[object] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="Circular reference"):
        runtime.wire_copy(cycle)
