"""The machine, the versions and the base install's dependency count, for the report's header."""

from __future__ import annotations

import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from typing import Any

from packaging.requirements import Requirement

from bench.targets import litellm_version


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def base_dependencies(dist: str = "alfred-gateway") -> list[str]:
    """Every distribution the base install pulls in (no extras of ours), transitively, as installed here."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    todo: list[tuple[str, str]] = [(dist, "")]
    while todo:
        current, extra = todo.pop()
        try:
            requires = metadata.requires(current) or []
        except metadata.PackageNotFoundError:
            continue
        for spec in requires:
            requirement = Requirement(spec)
            # Markers evaluated for this interpreter: what `pip install alfred-gateway` brings here.
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": extra}):
                continue
            name = _canonical(requirement.name)
            for wanted in ("", *sorted(requirement.extras)):
                if (name, wanted) not in seen:
                    seen.add((name, wanted))
                    todo.append((name, wanted))
            names.add(name)
    return sorted(names)


def _first_line(args: list[str]) -> str | None:
    if shutil.which(args[0]) is None:
        return None
    done = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else None


def _tool_version(args: list[str], prefix: str) -> str | None:
    """The version word after ``prefix`` in a tool's banner (``nginx version: nginx/1.22.1`` → 1.22.1)."""
    line = _first_line(args)
    if line is None or prefix not in line:
        return line
    return line.split(prefix, 1)[1].split()[0]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def describe() -> dict[str, Any]:
    """Machine, software versions and the dependency count, as the report prints them."""
    deps = base_dependencies()
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": round(memory_gib, 1),
            "kernel": platform.release(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()],
        },
        "versions": {
            "python": platform.python_version(),
            "alfred": _version("alfred-gateway"),
            "uvicorn": _version("uvicorn"),
            "uvloop": _version("uvloop"),
            "httptools": _version("httptools"),
            "aiohttp": _version("aiohttp"),
            "litellm": litellm_version(),
            "nginx": _tool_version(["nginx", "-v"], "nginx/"),
            "wrk": _tool_version(["wrk", "-v"], "wrk "),
        },
        "base_dependencies": {"count": len(deps), "names": deps},
    }


def command_line(module: str, argv: list[str] | None) -> str:
    """How a bench script was run, for its results: ``python -m <module> <its arguments>``."""
    return f"python -m {module} {shlex.join(argv if argv is not None else sys.argv[1:])}".strip()


def uptime() -> str:
    """``uptime``'s line: the machine's load when a run starts and ends."""
    done = subprocess.run(["uptime"], capture_output=True, text=True, check=False)  # noqa: S607
    return done.stdout.strip()
