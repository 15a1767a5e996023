"""``alfred simulate``: compare routing policies on a load profile before paying for them.

Mounted in ``alfred.cli`` as ``app.command()(simulate)``. Progress goes to stderr; the report goes
to stdout, as rich tables or, with ``--json``, as one JSON object. numpy and matplotlib are imported
only when the command runs, so the rest of the CLI never needs them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from alfred.config import Settings
    from alfred.simulate.comparison import ImageStudy
    from alfred.simulate.hardware import HardwareTable
    from alfred.simulate.policies import PolicyVariant
    from alfred.simulate.profiles import Profile
    from alfred.simulate.text import StrategyReport


def _variants(settings: Settings, policies: list[str] | None, thresholds: str | None) -> list[PolicyVariant]:
    from alfred.simulate.policies import DEFAULT_THRESHOLDS, PolicyError, default_variants, parse_policy

    base = settings.images.router
    if policies:
        configured = default_variants(base, [])[0]
        chosen = [parse_policy(p, base) for p in policies]
        return [configured if v.name == configured.name else v for v in chosen]
    if thresholds:
        try:
            values = [int(v) for v in thresholds.split(",") if v.strip()]
        except ValueError:
            raise PolicyError(f"--thresholds {thresholds!r}: expected numbers such as 5,10,20,50") from None
        return default_variants(base, values)
    return default_variants(base, DEFAULT_THRESHOLDS)


class _Bars:
    """One progress bar per stage, created the first time the stage reports.

    The bars are redrawn here, on each report, rather than by rich's refresh thread: policies run in
    forked processes, and a fork must not copy a thread that may hold the terminal's lock.
    """

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._tasks: dict[str, TaskID] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        task = self._tasks.get(label)
        if task is None:
            task = self._tasks[label] = self._progress.add_task(label, total=total)
        self._progress.update(task, completed=done, total=total)
        self._progress.refresh()


def _document(
    config: Path, profile: Profile, hardware: HardwareTable, days: float, seed: int,
    images: ImageStudy | None, text: list[StrategyReport] | None, series: bool, plot: Path | None,
) -> dict[str, Any]:  # fmt: skip
    doc: dict[str, Any] = {
        "config": str(config),
        "profile": profile.name,
        "hardware": hardware.name,
        "days": days,
        "seed": seed,
        "policies": [r.as_json(series) for r in images.reports] if images else [],
    }
    if images is not None:
        doc["model"] = images.model
        doc["requests"] = images.requests
        doc["distinct_requests"] = images.distinct_requests
        doc["recommendations"] = [r.as_json() for r in images.recommendations]
    if plot is not None:
        doc["plot"] = str(plot)
    if text is not None:
        doc["text"] = {"strategies": [r.as_json() for r in text]}
    return doc


def simulate(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="the gateway's YAML config (default: ALFRED_CONFIG)"),
    ] = None,
    profile: Annotated[
        str,
        typer.Option("--profile", "-p", help="a load profile: NAME (examples/profiles/NAME.yaml) or a path"),
    ] = "seed",
    json_output: Annotated[
        bool, typer.Option("--json", help="print one JSON object instead of tables")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="write queue-depth.png and report.json into this directory"),
    ] = None,
    days: Annotated[
        float | None, typer.Option(help="days to simulate (default: the profile's)", min=0.01)
    ] = None,
    hardware: Annotated[
        str | None,
        typer.Option(
            help="service times and slot prices: seed, cpu-basic, t4-small, a10g-small, sd-turbo-t4, or a YAML path"
        ),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            help="a policy to compare (repeatable): queue-depth:N, predicted-wait:S, always-primary, always-fallback"
        ),
    ] = None,
    thresholds: Annotated[
        str | None,
        typer.Option(help="depth thresholds to compare, e.g. 5,10,20,50 (with the default policies)"),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="random seed (default: the profile's)")] = None,
    series: Annotated[
        bool, typer.Option("--series/--no-series", help="include queue depth over time in --json")
    ] = False,
    jobs: Annotated[
        int | None,
        typer.Option(
            help="processes to run policies in (default: one per usable CPU; 1: all in this process)",
            min=1,
        ),
    ] = None,
) -> None:
    """Replay a load profile through the real router, queue, cache and prices on a virtual clock, per policy."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from alfred.config import ConfigError
    from alfred.simulate.comparison import SimulationError, load_config, study_images
    from alfred.simulate.hardware import HardwareError, load_hardware
    from alfred.simulate.parallel import usable_cpus
    from alfred.simulate.policies import PolicyError
    from alfred.simulate.profiles import ProfileError, load_profile
    from alfred.simulate.report import image_table
    from alfred.simulate.text import simulate_strategy, text_catalog, text_table

    err = Console(stderr=True)
    path = config or (Path(os.environ["ALFRED_CONFIG"]) if os.environ.get("ALFRED_CONFIG") else None)
    if path is None:
        err.print("[red]give --config (or set ALFRED_CONFIG)[/red]")
        raise typer.Exit(2)
    try:
        settings = load_config(path)
        load = load_profile(profile)
        table = load_hardware(hardware or load.hardware)
        variants = _variants(settings, policy, thresholds) if load.images is not None else []
    except (ConfigError, ProfileError, HardwareError, PolicyError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    run_days = days or load.days
    run_seed = load.seed if seed is None else seed
    images: ImageStudy | None = None
    text: list[StrategyReport] | None = None
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=err, transient=True, auto_refresh=False) as progress:
            bars = _Bars(progress)
            if load.images is not None:
                images = study_images(
                    settings,
                    load.images,
                    variants,
                    table,
                    run_days,
                    run_seed,
                    bars,
                    jobs=jobs or usable_cpus(),
                )
            if load.text is not None:
                catalog = text_catalog(settings)
                text = []
                for i, name in enumerate(load.text.strategies):
                    bars("text strategies", i, len(load.text.strategies))
                    text.append(simulate_strategy(settings, catalog, load.text, name, run_days, run_seed))
                bars("text strategies", len(load.text.strategies), len(load.text.strategies))
    except (SimulationError, HardwareError, ValueError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    plot = None
    if out is not None and images is not None:
        from alfred.simulate.plot import plot_queue_depth

        plot = plot_queue_depth(
            images.reports,
            out / "queue-depth.png",
            f"{images.model}: primary queue depth, profile {load.name}, hardware {table.name}",
        )
    if out is not None:
        full = _document(path, load, table, run_days, run_seed, images, text, True, plot)
        out.mkdir(parents=True, exist_ok=True)
        (out / "report.json").write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
    if json_output:
        typer.echo(json.dumps(_document(path, load, table, run_days, run_seed, images, text, series, plot)))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a file or a pipe: do not squeeze the table to 80 columns
    if images is not None:
        console.print(
            image_table(
                images.reports,
                f"{images.model}: profile {load.name}, hardware {table.name}, {run_days:g} days, {images.requests} requests",
            )
        )
        for rec in images.recommendations:
            console.print(f"[bold]recommended[/bold] {rec.name}: {rec.why}")
        if not any(r.configured for r in images.reports):
            console.print("(the configured policy is not among those compared, so nothing is recommended)")
        elif not images.recommendations:
            console.print(
                "no policy beats the configured one on p95 without costing more, or on cost without a worse p95"
            )
    if text is not None:
        console.print(text_table(text, f"text: profile {load.name}, {run_days:g} days"))
    if plot is not None:
        err.print(f"wrote {plot}")
