"""CLI commands of stage 3: `scones functions ...`, `scones workflow ...` and `scones testcases`.

Thin: parse, call the stage, print. Names and outputs mirror the AWS CLI (`lambda invoke`,
`stepfunctions create-state-machine / start-execution / describe-execution / ...`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from scones.cli import _common
from scones.errors import WorkflowError

functions_app = typer.Typer(help="The three Lambda functions, run locally as Lambda would.", no_args_is_help=True)
workflow_app = typer.Typer(help="State machines and their executions (Step Functions, locally).", no_args_is_help=True)


def _json_arg(text: str, what: str) -> Any:
    """A JSON value given inline or as @file."""
    source = what
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            text, source = path.read_text(encoding="utf-8"), f"{what} file {path}"
        except OSError as exc:
            raise WorkflowError(f"Cannot read {what} file {path}: {exc.strerror}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"The {source} is not JSON ({exc}); pass JSON or @file.json") from exc


@functions_app.command("list")
def functions_list() -> None:
    """List the functions and their handlers."""
    from scones.functions import NAMES

    for name in NAMES:
        _common.out.print(f"{name}\tscones.functions.{name}.handler", soft_wrap=True)


@functions_app.command("invoke")
def functions_invoke(
    name: Annotated[str, typer.Argument(help="serialize_image_data, classify_image or filter_inferences.")],
    payload: Annotated[str, typer.Option(help="The event: JSON, or @file.json.")] = "{}",
) -> None:
    """Invoke a function with an event; print its result, or Lambda's error document (exit 1)."""
    from scones.functions import runtime

    settings = _common.settings()  # the functions run with the CLI's home, store, endpoint and threshold
    response = runtime.invoke(name, _json_arg(payload, "payload"), config=runtime.config_from(settings))
    _common.print_json(response["Payload"])
    if "FunctionError" in response:
        raise typer.Exit(1)


@workflow_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="State machine name.")],
    definition: Annotated[
        Path | None, typer.Option(help="ASL JSON file (default: the seed's pipeline.asl.json).")
    ] = None,
    function: Annotated[
        list[str] | None,
        typer.Option("--function", help="Bind a function named in the definition: AWS_NAME=scones_function."),
    ] = None,
) -> None:
    """Create (or update) a state machine."""
    from scones.workflow import machines

    mapping: dict[str, str] = {}
    for item in function or []:
        aws_name, sep, local = item.partition("=")
        if not sep or not aws_name or not local:
            raise WorkflowError(f"--function {item!r}: write it as AWS_NAME=serialize_image_data")
        mapping[aws_name] = local
    if definition is not None:
        try:
            text = definition.read_text(encoding="utf-8")
        except OSError as exc:
            raise WorkflowError(f"Cannot read definition {definition}: {exc.strerror}") from exc
    else:
        text = machines.pipeline_definition()
    machine = machines.create(_common.settings(), name, text, mapping)
    _common.print_json({"stateMachineArn": machine.arn, "creationDate": machine.created, "bindings": machine.bindings})


@workflow_app.command("list")
def list_machines() -> None:
    """List state machines."""
    from scones.workflow import machines

    for machine in machines.list_all(_common.settings()):
        _common.out.print(f"{machine.name}\t{machine.arn}\t{machine.updated}", soft_wrap=True)


@workflow_app.command("start-execution")
def start_execution(
    name: Annotated[str, typer.Argument(help="State machine name.")],
    input: Annotated[str, typer.Option("--input", help="Execution input: JSON, or @file.json.")] = "{}",
    execution_name: Annotated[str | None, typer.Option("--name", help="Execution name (default: a UUID).")] = None,
    type_: Annotated[str, typer.Option("--type", help="EXPRESS or STANDARD.")] = "STANDARD",
    wait: Annotated[bool, typer.Option("--wait", help="Print the finished execution, as describe-execution.")] = False,
) -> None:
    """Start an execution (it runs to its end in this process; STANDARD survives a crash)."""
    from scones.workflow import executions, machines

    settings = _common.settings()
    execution = executions.start(settings, name, _json_arg(input, "input"), name=execution_name, type_=type_.upper())
    if wait:
        _common.print_json(execution.describe(machines.arn(settings, name)))
        if execution.status != "SUCCEEDED":
            raise typer.Exit(1)
    else:
        _common.print_json({"executionArn": execution.arn, "startDate": execution.started})


@workflow_app.command("list-executions")
def list_executions(
    name: Annotated[str, typer.Argument(help="State machine name.")],
    status: Annotated[str | None, typer.Option(help="RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List a state machine's executions, newest first."""
    from scones.workflow import machines, records

    settings = _common.settings()
    machines.get(settings, name)
    found = records.list_for(settings, name, status.upper() if status else None)
    if as_json:
        _common.print_json([e.describe(machines.arn(settings, name)) for e in found])
        return
    for e in found:
        _common.out.print(f"{e.name}\t{e.type}\t{e.status}\t{e.error or ''}\t{e.started}", markup=False, soft_wrap=True)


@workflow_app.command("describe-execution")
def describe_execution(arn: Annotated[str, typer.Argument(help="Execution ARN (or unique name).")]) -> None:
    """Describe an execution."""
    from scones.workflow import machines, records

    settings = _common.settings()
    execution = records.get(settings, arn)
    _common.print_json(execution.describe(machines.arn(settings, execution.state_machine)))


@workflow_app.command("get-execution-history")
def get_execution_history(arn: Annotated[str, typer.Argument(help="Execution ARN (or unique name).")]) -> None:
    """Print an execution's events as AWS does: {"events": [{id, previousEventId, timestamp, type, ...}]}."""
    from scones.workflow import records

    settings = _common.settings()
    _common.print_json({"events": records.history(settings, records.get(settings, arn))})


@workflow_app.command("graph")
def graph(
    name: Annotated[str, typer.Argument(help="State machine name.")],
    execution: Annotated[
        str | None, typer.Option(help="Colour by this execution (default: the latest one, if any).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Output path without suffix (default: <home>/graphs/NAME).")] = None,
) -> None:
    """Draw the state machine (SVG and PNG), states coloured by how an execution went."""
    from scones.workflow import graph as drawing, machines, records

    settings = _common.settings()
    machine = machines.get(settings, name)
    chosen = (
        records.get(settings, execution) if execution else next(iter(records.list_for(settings, name, limit=1)), None)
    )
    events = records.history(settings, chosen) if chosen else []
    title = f"{name}: {chosen.name} {chosen.status}" if chosen else name
    for path in drawing.draw(machine.definition, out or settings.home / "graphs" / name, events, title):
        _common.out.print(str(path), soft_wrap=True)


@workflow_app.command("run-testcases")
def run_testcases(
    name: Annotated[str, typer.Argument(help="State machine name.")],
    count: Annotated[int, typer.Option(help="How many executions.")] = 10,
    concurrency: Annotated[int, typer.Option(help="Executions at a time.")] = 4,
    type_: Annotated[str, typer.Option("--type", help="EXPRESS or STANDARD.")] = "EXPRESS",
    seed: Annotated[int | None, typer.Option(help="Random seed for picking test images.")] = None,
    processes: Annotated[
        int | None,
        typer.Option(help="EXPRESS runner processes (default: one per core, at most --concurrency)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Run random test images through a state machine and summarise the executions."""
    from scones.cli._ui import progress_bar
    from scones.workflow import testcases

    testcases.check_options(concurrency, processes)
    settings = _common.settings()
    inputs = testcases.generate(_common.store(settings), count, seed)
    with progress_bar() as bar:
        summary = testcases.run(settings, name, inputs, concurrency, type_.upper(), progress=bar, processes=processes)
    if as_json:
        _common.print_json(summary.to_dict())
    else:
        print_summary(summary)


def print_summary(summary: Any) -> None:
    out = _common.out
    out.print(
        f"{summary.executions} {summary.type} executions, concurrency {summary.concurrency}: "
        f"{summary.succeeded} succeeded, {summary.executions - summary.succeeded} failed"
    )
    for error, n in summary.failed.items():
        out.print(f"  failed {error}: {n}  (e.g. {summary.examples.get(error, '')})", markup=False, soft_wrap=True)
    lat = summary.latency_ms
    if lat:
        out.print(f"latency ms: p50 {lat['p50']}  p90 {lat['p90']}  p99 {lat['p99']}  max {lat['max']}")
    out.print(f"{summary.throughput_per_second} executions/s over {summary.wall_seconds} s")


@workflow_app.command("worker")
def worker(
    concurrency: Annotated[int, typer.Option(help="Executions at a time.")] = 4,
    database_url: Annotated[
        str | None, typer.Option(help="Postgres URL: serve the shared queue until stopped (env SCONES_DATABASE_URL).")
    ] = None,
    endpoint_concurrency: Annotated[
        int | None, typer.Option(help="With Postgres: executions per endpoint at once, across all workers.")
    ] = None,
) -> None:
    """Resume STANDARD executions whose runner died; with Postgres, run queued executions until stopped."""
    from scones.workflow import standard

    resumed = standard.worker(_common.settings(database_url=database_url), concurrency, endpoint_concurrency)
    if resumed is not None:  # SQLite; with Postgres it served the shared queue until stopped
        _common.out.print(f"resumed {len(resumed)} execution(s)")


def testcases_command(
    count: Annotated[int, typer.Option(help="How many test cases.")] = 1,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """Print random test cases (execution inputs for images under the bucket's test prefix)."""
    from scones.workflow import testcases

    _common.print_json(testcases.generate(_common.store(), count, seed))


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.add_typer(functions_app, name="functions")
    app.add_typer(workflow_app, name="workflow")
    app.command("testcases")(testcases_command)
