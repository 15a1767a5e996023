"""The ``alfred`` command line (typer + rich)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alfred.cli_admin import register_admin
from alfred.cli_config import ConfigOption
from alfred.cli_config import load_config as _load
from alfred.diagrams.command import diagram
from alfred.simulate.command import simulate

# Commands import what they need when they run: `alfred --help` must not load the config models,
# and `alfred serve` reaches readiness sooner for each library it does not load (bench/cold_start.py).

app = typer.Typer(help="Alfred, an AI gateway. Run `alfred serve` to start it.", no_args_is_help=True)
console = Console(stderr=True)


def _configure_logging(level: str) -> None:
    from alfred.observability.logging import configure_logging

    configure_logging(level)


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str | None, typer.Option(help="bind address (default from config: 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default from config: 9090)")] = None,
    workers: Annotated[int | None, typer.Option(help="worker processes")] = None,
    log_level: Annotated[str, typer.Option(help="debug | info | warning")] = "info",
) -> None:
    """Start the gateway."""
    import uvicorn

    from alfred.api.http_protocol import ConnectionLimits, guarded_http

    settings = _load(config)
    server = settings.server.model_copy(
        update={k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    )
    settings = settings.model_copy(update={"server": server})
    _configure_logging(log_level)
    from alfred.observability.multiprocess import prepare_multiprocess

    prepare_multiprocess(settings.observability.metrics, server.workers)  # before prometheus_client loads
    if config is not None:
        os.environ["ALFRED_CONFIG"] = str(config.resolve())
    # Overrides reach worker processes through the environment, which load_settings reads.
    os.environ["ALFRED_SERVER__PORT"] = str(server.port)
    os.environ["ALFRED_SERVER__HOST"] = server.host
    from alfred.app import build_app

    try:
        application = build_app(settings)
    except Exception as exc:  # a config that validates but cannot be wired (unknown secret, adapter)
        console.print(f"[red]cannot start: {exc}[/red]")
        raise typer.Exit(2) from None
    demo = [g.name for g in application.components.catalog.groups() if g.demo]
    console.print(
        f"[bold green]Alfred[/bold green] on http://{server.host}:{server.port}  "
        f"models: {len(application.components.catalog.groups())}"
        + (f"  (demo models backed by the built-in mock: {', '.join(demo)})" if demo else "")
    )
    for name, why in application.components.catalog.skipped.items():
        console.print(f"[dim]provider {name} not enabled: {why}[/dim]")
    uvicorn_kwargs = dict(
        host=server.host,
        port=server.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=guarded_http(
            ConnectionLimits(server.max_header_bytes, server.header_timeout_s, server.body_timeout_s)
        ),
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_keep_alive=30,
        timeout_graceful_shutdown=10,
        h11_max_incomplete_event_size=64 * 1024,
    )
    if server.workers > 1:
        uvicorn.run("alfred.app:create_app", factory=True, workers=server.workers, **uvicorn_kwargs)  # type: ignore[arg-type]
    else:
        uvicorn.run(application, **uvicorn_kwargs)  # type: ignore[arg-type]


@app.command()
def worker(
    config: ConfigOption = None,
    log_level: Annotated[str, typer.Option(help="debug | info | warning")] = "info",
) -> None:
    """Run image workers only: consume the primary queue (share Redis with the gateways)."""
    import asyncio

    from alfred.worker_process import run_worker

    settings = _load(config)
    _configure_logging(log_level)
    if settings.images.queue.backend == "memory":
        console.print(
            "[yellow]images.queue.backend is memory: this worker sees only its own jobs; "
            "use redis to share the queue with gateways[/yellow]"
        )
    try:
        asyncio.run(run_worker(settings))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None


@app.command("mock-upstream")
def mock_upstream(
    port: Annotated[int, typer.Option(help="port to listen on")] = 9999,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
) -> None:
    """Run the mock upstream that speaks every provider's wire format (for tests and demos)."""
    import uvicorn

    from alfred.mock.app import build_mock_app

    console.print(f"[bold]mock upstream[/bold] on http://{host}:{port}  (faults: POST /mock/faults)")
    uvicorn.run(
        build_mock_app(),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
    )


@app.command()
def models(config: ConfigOption = None) -> None:
    """List the models a config serves and where each one goes."""
    from rich.table import Table

    from alfred.routing.catalog import ModelCatalog
    from alfred.vault import secret_resolver

    settings = _load(config)
    try:
        catalog = ModelCatalog.from_settings(settings, secret_resolver(settings.vault))
    except Exception as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    table = Table("model", "kind", "deployments", "notes")
    for group in catalog.groups():
        deployments = ", ".join(f"{d.endpoint.provider}:{d.endpoint.model}" for d in group.deployments)
        notes = "demo (built-in mock)" if group.demo else (group.description or "")
        table.add_row(group.name, group.kind, deployments, notes)
    Console().print(table)
    for name, why in catalog.skipped.items():
        console.print(f"[dim]provider {name} not enabled: {why}[/dim]")


@app.command("check-config")
def check_config(file: Annotated[Path, typer.Argument(help="the YAML file to validate")]) -> None:
    """Validate a config file; errors name file:line, the key and what is wrong."""
    settings = _load(file)
    console.print(
        f"[green]ok[/green]: {file} — {len(settings.providers)} providers, {len(settings.models)} models"
    )


app.command()(diagram)
app.command()(simulate)
register_admin(app)


def main() -> None:
    logging.getLogger("asyncio").setLevel(logging.WARNING)
    app()


if __name__ == "__main__":
    main()
