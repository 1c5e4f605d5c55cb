"""Four measured speed-ups to moto's interpreter (pinned at 5.2.5), without changing what it computes.

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
   anything that is not JSON still goes through `copy.deepcopy`.
3. Cached JSONPath parses (reference section 6): `jsonpath_ng.parse` rebuilt its parser on
   every call; parsed expressions are immutable ASTs, safe to share.
4. No error messages nobody reads. As a failure rises through the components, each one builds
   an error log line (its own repr, the details as JSON) before calling the logger; scones
   silences that logger (the failure is in the history), so those lines are skipped unless the
   logger is enabled again.

`tests/workflow/test_speedups.py` pins the source of the replaced methods, so a moto upgrade
that changes them fails loudly instead of silently diverging.
"""

from __future__ import annotations

import copy
import functools
import logging
import sys
import types
from typing import Any

_original_program_eval: Any = None
_original_evaluate_with_timeout: Any = None
_ATOMIC = (str, int, float, bool, type(None))


def json_copy(value: Any, memo: Any = None) -> Any:
    """A deep copy of JSON data (dicts, lists, strings, numbers, booleans, null)."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(item) for key, item in value.items()}
    if kind is list:
        return [json_copy(item) for item in value]
    if kind in _ATOMIC:
        return value
    return copy.deepcopy(value)


_copy_module = types.SimpleNamespace(deepcopy=json_copy, copy=copy.copy)


def install() -> None:
    """Apply the four speed-ups (once per process; engine.install calls this)."""
    global _original_program_eval, _original_evaluate_with_timeout
    if _original_program_eval is not None:
        return
    from moto.stepfunctions.parser.asl.component import eval_component
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.program.program import Program
    from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser  # noqa: F401 - loads every component
    from moto.stepfunctions.parser.asl.utils import json_path

    # the modules import `parse` from jsonpath_ng; mypy sees it as not re-exported
    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)  # type: ignore[attr-defined]
    result_path.parse = functools.lru_cache(maxsize=4096)(result_path.parse)  # type: ignore[attr-defined]
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser.") and getattr(module, "copy", None) is copy:
            module.copy = _copy_module  # type: ignore[attr-defined]
    for name in ("_log_failure_event_exception", "_log_exception"):
        setattr(eval_component.EvalComponent, name, _only_if_logged(getattr(eval_component.EvalComponent, name)))
    _original_program_eval = Program.eval
    _original_evaluate_with_timeout = ExecutionState._evaluate_with_timeout
    Program.eval = _program_eval  # type: ignore[method-assign]
    ExecutionState._evaluate_with_timeout = _evaluate_with_timeout  # type: ignore[method-assign]


def _only_if_logged(log_method: Any) -> Any:
    from moto.stepfunctions.parser.asl.component.eval_component import LOG

    @functools.wraps(log_method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> None:
        if LOG.isEnabledFor(logging.ERROR):
            log_method(self, *args, **kwargs)

    return wrapper


def _program_eval(self: Any, env: Any) -> None:
    if self.timeout_seconds is not None:
        _original_program_eval(self, env)
        return
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent

    env.next_state_name = self.start_at.start_at_name
    EvalComponent.eval(self, env)


def _evaluate_with_timeout(self: Any, env: Any) -> None:
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds

    if not (isinstance(self.timeout, TimeoutSeconds) and self.timeout.is_default_value()):
        _original_evaluate_with_timeout(self, env)
        return
    # moto's body without the thread: the attempt runs in a frame, then the result fields apply.
    frame = env.open_frame()
    frame.states.reset(input_value=env.states.get_input())
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
