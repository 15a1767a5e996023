"""``alfred diagram``: draw the architecture from the running config (mounted in ``alfred.cli``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console


def diagram(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="YAML config file (default: ALFRED_CONFIG, else env vars only)"),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="directory to write the diagrams into")] = Path(
        "docs/diagrams"
    ),
    png: Annotated[bool, typer.Option("--png/--no-png", help="also rasterise image-flow.svg to PNG")] = True,
) -> None:
    """Render the architecture diagrams (Mermaid *.mmd, image-flow.svg and .png) from a config."""
    from alfred.config import ConfigError
    from alfred.diagrams.facts import Topology
    from alfred.diagrams.render import display_name, load_for_diagrams, write_diagrams

    console = Console(stderr=True)
    path = config or (Path(os.environ["ALFRED_CONFIG"]) if os.environ.get("ALFRED_CONFIG") else None)
    try:
        settings = load_for_diagrams(path)
    except ConfigError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    topology = Topology.from_settings(settings, display_name(path))
    for written in write_diagrams(topology, out, png=png):
        console.print(f"wrote {written}")
