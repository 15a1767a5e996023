"""The primary queue's depth over time, one panel per policy, as a PNG (matplotlib, imported on use)."""

from __future__ import annotations

from pathlib import Path

from alfred.simulate.report import PolicyReport, duration


def plot_queue_depth(reports: list[PolicyReport], path: Path, title: str) -> Path:
    """Write the plot to ``path`` and return it. Each panel shows the max depth per interval."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    if not reports:
        raise ValueError("nothing to plot")
    days = reports[0].days
    scale, unit = (86400.0, "days") if days >= 2 else (3600.0, "hours")
    fig, axes = plt.subplots(
        len(reports), 1, figsize=(11, 1.7 * len(reports) + 1.2), sharex=True, squeeze=False
    )
    for ax, report in zip(axes[:, 0], reports, strict=True):
        depth = report.depth
        xs = [i * depth.interval_s / scale for i in range(len(depth.maxima) + 1)]
        ax.stairs(depth.maxima, xs, fill=True, color="#3b6ea5", alpha=0.8)
        if report.threshold is not None:
            ax.axhline(report.threshold, color="#c0392b", linewidth=0.8, linestyle="--")
        label = f"{report.name}{' (configured)' if report.configured else ''}"
        ax.set_title(
            f"{label}: p95 {duration(report.p95_s)}, fallback {report.fallback_share:.0%}, "
            f"${report.cost_per_month_usd:.2f}/month",
            fontsize=9,
            loc="left",
        )
        ax.set_ylabel("depth", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.set_ylim(bottom=0)
    axes[-1, 0].set_xlabel(unit)
    fig.suptitle(title, fontsize=11, x=0.01, horizontalalignment="left")
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
