"""prometheus_client's multiprocess mode, for ``alfred serve --workers N``.

Each worker writes its samples to memory-mapped files in one shared directory and any worker can
answer a scrape by merging them, so the numbers are the pod's whatever worker the scrape lands on.
prometheus_client picks its storage when it is first imported, from ``PROMETHEUS_MULTIPROC_DIR``:
``prepare_multiprocess`` must therefore run in the parent before the workers start, and before
this process imports prometheus_client: this module does not (``observability.merge`` reads the
files back).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from alfred.observability.settings import MetricsSettings

ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess(
    settings: MetricsSettings, workers: int, environ: dict[str, str] | None = None
) -> str | None:
    """Choose and empty the shared directory and export it to the workers; None means single-process.

    Files left by an earlier run would add its counts to this one, so the directory is emptied.
    """
    env: dict[str, str] | os._Environ[str] = os.environ if environ is None else environ
    path = settings.multiprocess_dir or env.get(ENV)
    if path is None:
        if workers <= 1:
            return None
        path = tempfile.mkdtemp(prefix="alfred-metrics-")
    directory = Path(path)
    if directory.exists():
        for entry in directory.glob("*.db"):
            entry.unlink()
    else:
        directory.mkdir(parents=True)
    env[ENV] = str(directory)
    return str(directory)


def remove_directory(path: str) -> None:
    """Delete a directory ``prepare_multiprocess`` created (at server exit)."""
    shutil.rmtree(path, ignore_errors=True)
