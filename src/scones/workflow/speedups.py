"""Measured speed-ups to moto's interpreter (pinned at 5.2.5), without changing what it computes.

1. Timeouts without threads. The interpreter starts a thread for every execution (to enforce
   the program's TimeoutSeconds) and one for every Task attempt (the state's TimeoutSeconds),
   and blocks the caller until it ends. With no timeout declared those threads only pass the
   GIL back and forth: four thread switches per three-task execution were half the engine's
   time. Such programs and states now run in the calling thread, with moto's own frames,
   stack and events; a declared TimeoutSeconds (or TimeoutSecondsPath) keeps moto's threaded
   path, so a hanging task still times out.
2. Cheap copies. The interpreter deep-copies every value it reads or writes (about fifty
   `copy.deepcopy` calls per execution). Its values are JSON, so a copy that rebuilds dicts
   and lists and shares the immutable leaves gives the same result several times faster;
   moto's program-state objects (copied five times per execution, at `copy.deepcopy`'s
   generic pace) are rebuilt the way `copy.deepcopy` rebuilds them; anything else still goes
   through `copy.deepcopy`.
3. Cached JSONPath parses (reference section 6): `jsonpath_ng.parse` rebuilt its parser on
   every call; parsed expressions are immutable ASTs, safe to share.
4. No error messages nobody reads. As a failure rises through the components, each one builds
   an error log line (its own repr, the details as JSON) before calling the logger; scones
   silences that logger (the failure is in the history), so those lines are skipped unless the
   logger is enabled again.
5. JSON text with each long string escaped once (`dumps`). The interpreter writes the state
   data into the history as JSON text about twenty times per execution, and the history log
   encodes those texts again; with a base64 image in the data, escaping that one string was
   most of the cost. Strings are immutable and their escaped form depends on nothing else, so
   `dumps` remembers the escaped form of recent strings (the image string object is shared by
   every copy, see 2) and gives exactly `json.dumps`' text. moto's `to_json_str` becomes it.
6. No copy to read. The state entered/exited events encode the state's input; moto copies
   the input first (`get_input`), only to encode the copy. They now encode it in place.
7. Lambda payloads without a JSON round trip. moto encodes a dict or list payload to bytes
   and scones decoded it again before calling the function; the payload now stays decoded,
   rebuilt as the round trip would have rebuilt it (`_decoded`).
8. Event timestamps without `strftime`: the same text, formatted from the fields.

Every replacement goes through `_patch`, so `disabled()` can put moto's originals back:
`tests/workflow/test_speedups.py` runs definitions both ways and compares the outputs and the
histories, and pins the source of every replaced moto method, so a moto upgrade that changes
one fails loudly instead of silently diverging.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import functools
import json
import logging
import sys
import types
from collections.abc import Callable, Iterator
from json import encoder as json_encoder
from typing import Any

_original_program_eval: Any = None
_original_evaluate_with_timeout: Any = None
_ATOMIC = (str, int, float, bool, type(None))
_OBJECTS: set[type] = set()  # moto's program-state classes: plain attributes, no custom copy
_patches: list[tuple[Any, str, Any, Any]] = []  # (owner, attribute, moto's value, ours)
_moto_default: Any = None  # moto's to_json_str `default` (install sets it)
# moto names the replacements use, bound once by install (an import inside a function called
# forty times per execution costs a lookup every time)
_m = types.SimpleNamespace()


def json_copy(value: Any, memo: Any = None) -> Any:
    """A deep copy of JSON data (dicts, lists, strings, numbers, booleans, null)."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in _ATOMIC:
        return value
    if kind in _OBJECTS:
        # What copy.deepcopy does for such an object (__reduce_ex__: cls.__new__, then its
        # __dict__ copied deeply), without the generic machinery.
        clone = object.__new__(kind)
        clone.__dict__.update({key: json_copy(item) for key, item in value.__dict__.items()})
        return clone
    return copy.deepcopy(value)


_copy_module = types.SimpleNamespace(deepcopy=json_copy, copy=copy.copy)

# The escaped form of recent strings: lru_cache is C, so a hit (most keys, every shared image
# string) costs a dict lookup on the string's cached hash.
_escape = functools.lru_cache(maxsize=1024)(json_encoder.encode_basestring_ascii)
_raise_type_error = json.JSONEncoder().default
_c_make_encoder: Any = getattr(json_encoder, "c_make_encoder", None)  # None on a Python without _json


def dumps(value: Any, separators: tuple[str, str] | None = None, default: Callable[[Any], Any] | None = None) -> str:
    """Exactly `json.dumps(value, separators=separators, default=default)` (ASCII, circular check)."""
    if isinstance(value, str):
        return str(_escape(value))
    if _c_make_encoder is None:
        return json.dumps(value, separators=separators, default=default)
    item_separator, key_separator = separators or (", ", ": ")
    encode = _c_make_encoder(
        {}, default or _raise_type_error, _escape, None, key_separator, item_separator, False, False, True
    )
    return "".join(encode(value, 0))


def install() -> None:
    """Apply the speed-ups (once per process; engine.install calls this)."""
    global _original_program_eval, _original_evaluate_with_timeout, _moto_default
    if _original_program_eval is not None:
        return
    from moto.core import utils as moto_utils
    from moto.stepfunctions.parser.asl.component import eval_component
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
    from moto.stepfunctions.parser.asl.eval import program_state
    from moto.stepfunctions.parser.asl.eval.event import event_manager
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser  # noqa: F401 - loads every component
    from moto.stepfunctions.parser.asl.utils import encoding, json_path

    _moto_default = encoding._DateTimeEncoder().default
    from moto.stepfunctions.parser import api
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEventException
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    _m.LOG, _m.FailureEventException, _m.TimeoutSeconds = eval_component.LOG, FailureEventException, TimeoutSeconds
    _m.StateEnteredEventDetails, _m.StateExitedEventDetails = api.StateEnteredEventDetails, api.StateExitedEventDetails
    _m.HistoryEventExecutionDataDetails = api.HistoryEventExecutionDataDetails
    # the modules import `parse` from jsonpath_ng; mypy sees it as not re-exported
    _patch(json_path, "parse", functools.lru_cache(maxsize=4096)(json_path.parse))  # type: ignore[attr-defined]
    _patch(result_path, "parse", functools.lru_cache(maxsize=4096)(result_path.parse))  # type: ignore[attr-defined]
    _OBJECTS.update(
        kind
        for kind in vars(program_state).values()
        if isinstance(kind, type) and issubclass(kind, program_state.ProgramState) and "__slots__" not in vars(kind)
    )
    moto_to_json_str = encoding.to_json_str  # its own module is among those patched below
    for name, module in list(sys.modules.items()):
        if not name.startswith("moto.stepfunctions.parser."):
            continue
        if getattr(module, "copy", None) is copy:
            _patch(module, "copy", _copy_module)
        if getattr(module, "to_json_str", None) is moto_to_json_str:
            _patch(module, "to_json_str", _to_json_str)
    for name in ("_log_failure_event_exception", "_log_exception"):
        _patch(eval_component.EvalComponent, name, _only_if_logged(getattr(eval_component.EvalComponent, name)))
    _original_program_eval = Program.eval
    _original_evaluate_with_timeout = ExecutionState._evaluate_with_timeout
    _patch(eval_component.EvalComponent, "eval", _component_eval)
    _patch(Program, "eval", _program_eval)
    _patch(ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout)
    _patch(CommonStateField, "_get_state_entered_event_details", _get_state_entered_event_details)
    _patch(CommonStateField, "_get_state_exited_event_details", _get_state_exited_event_details)
    _patch(lambda_eval_utils, "to_payload_type", _to_payload_type(lambda_eval_utils.to_payload_type))
    _patch(
        event_manager, "iso_8601_datetime_with_milliseconds", _iso_ms(moto_utils.iso_8601_datetime_with_milliseconds)
    )


def _patch(owner: Any, name: str, value: Any) -> None:
    _patches.append((owner, name, getattr(owner, name), value))
    setattr(owner, name, value)


def originals() -> dict[str, Any]:
    """moto's own functions and methods that install() replaced, by qualified name."""
    return {
        f"{getattr(owner, '__name__', owner)}.{name}": original
        for owner, name, original, _ in _patches
        if callable(original) and not isinstance(original, types.ModuleType)
    }


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """moto's originals in place of every speed-up, for a while (tests compare the two)."""
    install()
    for owner, name, original, _ in reversed(_patches):
        setattr(owner, name, original)
    kinds = set(_OBJECTS)
    _OBJECTS.clear()
    try:
        yield
    finally:
        for owner, name, _, value in _patches:
            setattr(owner, name, value)
        _OBJECTS.update(kinds)


def _only_if_logged(log_method: Any) -> Any:
    from moto.stepfunctions.parser.asl.component.eval_component import LOG

    @functools.wraps(log_method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        if LOG.isEnabledFor(logging.ERROR):
            log_method(self, *args, **kwargs)

    return wrapper


def _to_json_str(obj: Any, separators: tuple[str, str] | None = None) -> str:
    """moto's `to_json_str`, with its encoder's `default` (dates as ISO text, anything else as str)."""
    return dumps(obj, separators, _moto_default)


def _component_eval(self: Any, env: Any) -> None:
    """moto's EvalComponent.eval (forty calls per execution) without a call to build a debug line nobody reads."""
    if env.is_running():
        if _m.LOG.isEnabledFor(logging.DEBUG):
            self._log_evaluation_step("Computing")
        try:
            field_name = self._field_name()
            if field_name is not None:
                env.next_field_name = field_name
            self._eval_body(env)
        except _m.FailureEventException as failure_event_exception:
            self._log_failure_event_exception(failure_event_exception=failure_event_exception)
            raise failure_event_exception
        except Exception as exception:
            self._log_exception(exception=exception)
            raise exception
    elif _m.LOG.isEnabledFor(logging.DEBUG):
        self._log_evaluation_step("Pruning")


def _program_eval(self: Any, env: Any) -> None:
    if self.timeout_seconds is not None:
        _original_program_eval(self, env)
        return
    env.next_state_name = self.start_at.start_at_name
    _component_eval(self, env)


def _evaluate_with_timeout(self: Any, env: Any) -> None:
    if not (isinstance(self.timeout, _m.TimeoutSeconds) and self.timeout.is_default_value()):
        _original_evaluate_with_timeout(self, env)
        return
    # moto's body without the thread: the attempt runs in a frame, then the result fields apply.
    frame = env.open_frame()
    # reset copies its argument: moto's get_input() copy before it was a second copy of the input
    frame.states.reset(input_value=env.states._states_data["input"])
    frame.stack = json_copy(env.stack)
    try:
        self._eval_execution(frame)
        outputs = list(frame.stack)
    finally:
        frame.set_ended()
        env.close_frame(frame)
    env.stack.append(outputs.pop())
    if not self._is_language_query_jsonpath():
        env.states.set_result(env.stack[-1])
    if self.assign_decl:
        self.assign_decl.eval(env=env)
    if self.result_selector:
        self.result_selector.eval(env=env)
    if self.result_path:
        self.result_path.eval(env)
    else:
        env.states.reset(input_value=env.stack.pop())


def _get_state_entered_event_details(self: Any, env: Any) -> Any:
    """moto's method, encoding the input where it is instead of a copy of it (the encoder only reads)."""
    return _m.StateEnteredEventDetails(
        name=self.name,
        input=_to_json_str(env.states._states_data["input"], separators=(",", ":")),
        inputDetails=_m.HistoryEventExecutionDataDetails(truncated=False),
    )


def _get_state_exited_event_details(self: Any, env: Any) -> Any:
    """moto's method, encoding the output (the next input) where it is instead of a copy of it."""
    event_details = _m.StateExitedEventDetails(
        name=self.name,
        output=_to_json_str(env.states._states_data["input"], separators=(",", ":")),
        outputDetails=_m.HistoryEventExecutionDataDetails(truncated=False),
    )
    assigned_variables = env.variable_store.get_assigned_variables()
    env.variable_store.reset_tracing()
    if assigned_variables:
        event_details["assignedVariables"] = assigned_variables
        event_details["assignedVariablesDetails"] = {"truncated": False}
    return event_details


def _to_payload_type(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def to_payload_type(payload: Any) -> Any:
        """A dict or list payload decoded, as `json.loads(original(payload))` would give it; others as moto has them."""
        if type(payload) is dict or type(payload) is list:
            try:
                return _decoded(payload)
            except RecursionError:  # a cycle: let the encoder say so
                return original(payload)
        return original(payload)

    return to_payload_type


def _decoded(value: Any) -> Any:
    """`json.loads(to_json_str(value))` without the text: plain JSON rebuilt, anything else through the text."""
    kind = type(value)
    if kind is dict and all(type(key) is str for key in value):
        return {key: _decoded(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [_decoded(item) for item in value]
    if kind in _ATOMIC:
        return value
    return json.loads(_to_json_str(value))


def _iso_ms(original: Callable[..., str]) -> Callable[..., str]:
    def iso_8601_datetime_with_milliseconds(value: datetime.datetime | None = None) -> str:
        """moto's `strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"`, from the fields (four-digit years)."""
        if type(value) is datetime.datetime and value.year >= 1000:
            return (
                f"{value.year}-{value.month:02d}-{value.day:02d}T{value.hour:02d}:{value.minute:02d}:"
                f"{value.second:02d}.{value.microsecond // 1000:03d}Z"
            )
        return original(value)

    return iso_8601_datetime_with_milliseconds
