"""The ``--config`` option every CLI command shares, and loading the settings it names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from alfred.config import Settings

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML config file (default: ALFRED_CONFIG, else env vars only)"),
]


def config_path(config: Path | None) -> Path | None:
    """``--config`` if given, else ``ALFRED_CONFIG``, else None (environment variables only)."""
    return config or (Path(os.environ["ALFRED_CONFIG"]) if os.environ.get("ALFRED_CONFIG") else None)


def load_config(config: Path | None) -> Settings:
    """The settings, or exit 2 with the config error (file:line, the key and what is wrong)."""
    # Imported here: `alfred --help` must not load the config models (bench/cold_start.py).
    from alfred.config import ConfigError, load_settings

    try:
        return load_settings(config_path(config))
    except ConfigError as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
