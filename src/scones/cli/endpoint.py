"""CLI commands of the endpoint stage (thin: parse, call the stage, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scones.cli import _common
from scones.cli._ui import progress_bar
from scones.errors import ConfigError

_Name = Annotated[str, typer.Argument(help="Endpoint name.")]
_NameOption = Annotated[str | None, typer.Option("--name", help="Endpoint name (default: the configured one).")]
_Port = Annotated[
    int | None, typer.Option(help="Port to listen on (default: the port of an earlier deployment, else a free one).")
]
_Workers = Annotated[int | None, typer.Option(help="Server processes sharing the port (default 1).")]
_Percent = Annotated[
    float | None, typer.Option("--capture-percent", help="Data capture sampling percentage, 0-100 (0 = off).")
]
_Destination = Annotated[
    str | None,
    typer.Option(
        "--capture-destination", help="Capture destination s3://BUCKET/PREFIX (default s3://<bucket>/data_capture)."
    ),
]
_Token = Annotated[
    str | None,
    typer.Option(
        "--auth-token", help="Require 'Authorization: Bearer TOKEN' (env SCONES_AUTH_TOKEN).", show_default=False
    ),
]
_TokenFile = Annotated[
    Path | None,
    typer.Option("--auth-token-file", help="Read the token from this file (kept out of 'ps').", show_default=False),
]
_Json = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_MinWorkers = Annotated[
    int | None, typer.Option(help="With target tracking: the fewest workers (same as --workers).", show_default=False)
]
_MaxWorkers = Annotated[
    int | None,
    typer.Option(help="Target tracking: add workers up to this many while load stays above the target.",
                 show_default=False),
]  # fmt: skip
_Target = Annotated[
    float | None,
    typer.Option(help="Target tracking: invocations per worker per minute to hold (SageMakerVariantInvocationsPer"
                 "Instance).", show_default=False),
]  # fmt: skip
_ScaleOut = Annotated[
    float | None, typer.Option(help="Seconds above the target before workers are added (default 30).")
]
_ScaleIn = Annotated[
    float | None, typer.Option(help="Seconds below the target before workers are removed (default 120).")
]


def _scaling(workers: int | None, min_workers: int | None, **rest: object) -> dict[str, object]:
    """The scaling flags as EndpointConfig fields (--min-workers is --workers)."""
    if workers is not None and min_workers is not None and workers != min_workers:
        raise ConfigError("Give --workers or --min-workers, not both (they are the same count)")
    return {"workers": min_workers if min_workers is not None else workers, **rest}


_Shadow = Annotated[
    str | None,
    typer.Option(
        "--shadow",
        help="A shadow variant NAME=MODEL[:PERCENT]: gets a copy of PERCENT (default 100) of requests, off the "
        "request path; its answers never reach the caller.",
        show_default=False,
    ),
]
_Variants = Annotated[
    list[str] | None,
    typer.Option(
        "--variant",
        help="A production variant NAME=MODEL[:WEIGHT] (repeat for several; traffic splits by weight).",
        show_default=False,
    ),
]


def serve_command(
    model: Annotated[
        str | None, typer.Option(help="model.tar.gz, its folder or s3:// URI (default: /opt/ml/model if present).")
    ] = None,
    name: _NameOption = None,
    host: Annotated[
        str | None, typer.Option(help="Address to bind (default 127.0.0.1; 0.0.0.0 in a container).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default SAGEMAKER_BIND_TO_PORT, else 8080).")] = None,
    workers: _Workers = None,
    capture_percent: _Percent = None,
    capture_destination: _Destination = None,
    variant: Annotated[
        list[str] | None,
        typer.Option(
            help="Production variant name (default AllTraffic), or NAME=MODEL[:WEIGHT] repeated to serve several.",
            show_default=False,
        ),
    ] = None,
    max_batch_size: Annotated[int | None, typer.Option(help="Most images per model run (default 8).")] = None,
    max_wait_ms: Annotated[float | None, typer.Option(help="Longest a batch waits for more (default 2 ms).")] = None,
    threads: Annotated[int | None, typer.Option(help="Inference threads (default: one per core).")] = None,
    auth_token: _Token = None,
    auth_token_file: _TokenFile = None,
    shadow: _Shadow = None,
    min_workers: _MinWorkers = None,
    max_workers: _MaxWorkers = None,
    target_invocations_per_worker: _Target = None,
    scale_out_seconds: _ScaleOut = None,
    scale_in_seconds: _ScaleIn = None,
) -> None:
    """Serve a model in the foreground (the SageMaker container's 'serve' command)."""
    from scones.endpoint import variants
    from scones.endpoint.server import endpoint_config, serve

    specs = [variants.parse(v) for v in variant or [] if "=" in v]
    if specs and (model or len(specs) != len(variant or [])):
        raise ConfigError("Give --model with one --variant NAME, or only --variant NAME=MODEL[:WEIGHT] options")
    if shadow:
        if not specs:
            raise ConfigError("--shadow needs the production variants as --variant NAME=MODEL[:WEIGHT]")
        specs.append(variants.parse_shadow(shadow))
    if specs:
        variants.check(specs)
    settings = _common.settings(auth_token=_common.token(auth_token, auth_token_file))
    config = endpoint_config(
        settings, name=name or settings.endpoint_name, host=host, port=port,
        capture_percent=capture_percent, capture_destination=capture_destination,
        variant=specs[0].name if specs else (variant[-1] if variant else None),
        max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, threads=threads,
        **_scaling(workers, min_workers, max_workers=max_workers,
                   target_invocations_per_worker=target_invocations_per_worker,
                   scale_out_seconds=scale_out_seconds, scale_in_seconds=scale_in_seconds),
    )  # fmt: skip
    serve(settings, config, model, specs)


def deploy_command(
    model: Annotated[
        str | None, typer.Option(help="model.tar.gz, s3:// URI or training job name (one variant, AllTraffic).")
    ] = None,
    variant: _Variants = None,
    shadow: _Shadow = None,
    name: _NameOption = None,
    port: _Port = None,
    workers: _Workers = None,
    capture_percent: _Percent = None,
    capture_destination: _Destination = None,
    auth_token: _Token = None,
    auth_token_file: _TokenFile = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for /ping.")] = 60.0,
    min_workers: _MinWorkers = None,
    max_workers: _MaxWorkers = None,
    target_invocations_per_worker: _Target = None,
    scale_out_seconds: _ScaleOut = None,
    scale_in_seconds: _ScaleIn = None,
) -> None:
    """Start a named endpoint in the background; returns once it is InService."""
    from scones.endpoint import variants
    from scones.endpoint.capture import DEFAULT_VARIANT
    from scones.endpoint.registry import deploy
    from scones.endpoint.server import endpoint_config

    if not model and not variant:
        raise ConfigError("Nothing to deploy: give --model M, or --variant NAME=MODEL[:WEIGHT] (repeatable)")
    specs = [variants.parse(v) for v in variant or []]
    if shadow:
        if model:  # --model is the one variant AllTraffic; spell it out beside a shadow
            specs.insert(0, variants.Variant(DEFAULT_VARIANT, model))
            model = None
        specs.append(variants.parse_shadow(shadow))
    settings = _common.settings(auth_token=_common.token(auth_token, auth_token_file))
    config = endpoint_config(
        settings, name=name or settings.endpoint_name, port=port or 0,
        capture_percent=capture_percent, capture_destination=capture_destination,
        **_scaling(workers, min_workers, max_workers=max_workers,
                   target_invocations_per_worker=target_invocations_per_worker,
                   scale_out_seconds=scale_out_seconds, scale_in_seconds=scale_in_seconds),
    )  # fmt: skip
    _common.err.print(f"Deploying {config.name} from {model or ', '.join(variant or [])} ...")
    record = deploy(settings, config, model, timeout=timeout, production_variants=specs)
    _common.out.print(
        f"{record.name} InService at {record.url} (pid {record.pid}, log {record.config['log']})", soft_wrap=True
    )
    print_variants(record.config.get("variants") or [])


def endpoints_command(as_json: _Json = False) -> None:
    """List endpoints and their status."""
    from rich.table import Table

    from scones.endpoint.registry import list_endpoints

    records = list_endpoints(_common.settings())
    if as_json:
        _common.print_json([r.to_dict() for r in records])
        return
    if not records:
        _common.out.print("No endpoints; create one with 'scones deploy --model ...'")
        return
    table = Table("name", "status", "url", "pid", "workers", "capture %", "model", "updated")
    for r in records:
        capture = str(r.config.get("capture_percent", 0))
        table.add_row(r.name, r.status, r.url, str(r.pid or ""), _workers(r), capture, r.model, r.updated)
    _common.out.print(table)


def _workers(record: object) -> str:
    """'2' for a fixed count; '3 (1-4, target 600/min)' with target tracking: the count now and the policy."""
    from scones.endpoint.registry import workers_now

    config = getattr(record, "config", {})
    scaling = config.get("scaling")
    now = workers_now(_common.settings(), record)  # type: ignore[arg-type]
    if not scaling:
        return str(now)
    return (
        f"{now} ({scaling['min_workers']}-{scaling['max_workers']}, "
        f"target {scaling['target_invocations_per_worker']:g}/min)"
    )


def describe_command(name: _Name) -> None:
    """Show one endpoint's record as JSON (status checked against its process), with its scaling events."""
    from scones.endpoint.registry import describe, scaling_events, workers_now

    settings = _common.settings()
    record = describe(settings, name)
    described = record.to_dict()
    described["workers_now"] = workers_now(settings, record)
    described["scaling_events"] = [e.to_dict() for e in scaling_events(settings, name)]
    _common.print_json(described)


def delete_command(name: _Name) -> None:
    """Stop an endpoint cleanly (capture flushed) and remove its record."""
    from scones.endpoint.registry import delete

    record = delete(_common.settings(), name)
    _common.out.print(f"Deleted {record.name} (was {record.url})", soft_wrap=True)


def invoke_command(
    name: _Name,
    files: Annotated[list[Path], typer.Argument(help="PNG or JPEG images.")],
    as_json: _Json = False,
) -> None:
    """Classify images through a running endpoint; prints class and probabilities per file."""
    from scones.endpoint.client import invoke_files

    predictions = invoke_files(_common.settings(), name, files)
    if as_json:
        _common.print_json(
            [{"file": p.source, "class": p.label, "probabilities": p.probabilities} for p in predictions]
        )
        return
    for p in predictions:
        names = p.classes if len(p.classes) == len(p.probabilities) else [str(i) for i in range(len(p.probabilities))]
        probabilities = ", ".join(f"{c}={v:.4f}" for c, v in zip(names, p.probabilities, strict=True))
        _common.out.print(f"{p.source}: {p.label} ({probabilities})", markup=False, highlight=False, soft_wrap=True)


def transform_command(
    model: Annotated[str, typer.Option(help="model.tar.gz, its folder, s3:// URI or training job name.")],
    input_uri: Annotated[str, typer.Option("--input", help="s3://BUCKET/PREFIX/ holding the images (or one image).")],
    output_uri: Annotated[str, typer.Option("--output", help="s3://BUCKET/PREFIX/ for the <name>.out answers.")],
    batch_size: Annotated[int, typer.Option(help="Images per model run.")] = 8,
    workers: Annotated[int, typer.Option(help="Threads reading and decoding (0: one per core).")] = 0,
    accept: Annotated[str, typer.Option(help="Answer format: application/json or application/jsonlines.")] = (
        "application/json"
    ),
    as_json: _Json = False,
) -> None:
    """Batch transform: classify every image under --input, one <name>.out per image; re-runs skip answered ones."""
    from scones.endpoint.registry import resolve_model
    from scones.endpoint.transform import run
    from scones.errors import BadImage
    from scones.model.artifact import load

    settings = _common.settings()
    store = _common.store(settings)
    artifact = load(resolve_model(settings, model), store)
    with progress_bar() as bar:
        result = run(
            store, artifact, input_uri, output_uri, batch_size=batch_size, workers=workers, accept=accept, progress=bar
        )
    if as_json:
        _common.print_json(result.as_dict())
    else:
        _common.out.print(
            f"{result.written} answers written to {output_uri} ({result.images_per_second:.1f} images/s), "
            f"{result.skipped} already answered, {len(result.failed)} failed",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
    if result.failed:
        shown = "; ".join(f"{name} ({reason})" for name, reason in result.failed[:3])
        more = f" and {len(result.failed) - 3} more" if len(result.failed) > 3 else ""
        raise BadImage(
            f"{len(result.failed)} of {result.inputs} inputs could not be classified and have no .out: {shown}{more}; "
            "fix or remove them and re-run (answered inputs are skipped)"
        )


def print_variants(listed: list[dict[str, object]]) -> None:
    total = sum(float(str(v["weight"])) for v in listed if not v.get("shadow")) or 1.0
    for v in listed:
        share = 100 * float(str(v["weight"])) / total
        role = (
            f"shadow of {100 * float(str(v['weight'])):g}% of requests"
            if v.get("shadow")
            else (f"weight {v['weight']} ({share:.0f}% of traffic)")
        )
        _common.out.print(
            f"  {v['name']}: {role}, model {v['model']}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the root app."""
    app.command("serve")(serve_command)
    app.command("deploy")(deploy_command)
    app.command("endpoints")(endpoints_command)
    app.command("describe-endpoint")(describe_command)
    app.command("delete-endpoint")(delete_command)
    app.command("invoke")(invoke_command)
    app.command("transform")(transform_command)
