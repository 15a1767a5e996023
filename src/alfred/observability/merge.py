"""Reading prometheus_client's multiprocess files back: the merged view a scrape serves.

See ``observability.multiprocess`` for how the shared directory is chosen before the workers start.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable

from prometheus_client import values
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import CollectorRegistry

from alfred.observability.multiprocess import ENV


class MultiprocessSetupError(RuntimeError):
    """Multiprocess mode was asked for after prometheus_client had already chosen in-memory storage."""


def multiprocess_dir() -> str | None:
    """The shared directory when this process stores metrics in it, else None.

    Raises when the environment asks for multiprocess mode but prometheus_client was imported before
    it was set: the counts of this process would silently be missing from every scrape.
    """
    path = os.environ.get(ENV)
    active = getattr(values.ValueClass, "_multiprocess", False)
    if path and not active:
        raise MultiprocessSetupError(
            f"{ENV} was set after prometheus_client was imported; set it before the process starts"
        )
    return path if active else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LiveMultiProcessCollector(MultiProcessCollector):
    """Like prometheus_client's collector, but drops "live" gauges of workers that died without saying so.

    A worker that exits cleanly removes its own live-gauge files (``release``); one that crashed would
    otherwise leave, say, its in-flight count in the sum forever. Counters of dead workers are kept:
    a counter must never go down.
    """

    def __init__(self, registry: CollectorRegistry | None, path: str) -> None:
        super().__init__(registry, path)  # type: ignore[no-untyped-call]
        self._dir = path

    def live_files(self) -> list[str]:
        files = []
        for file in glob.glob(os.path.join(self._dir, "*.db")):
            # gauge_<mode>_<pid>.db (prometheus_client's) or gauge_<mode>_<pid>_tally.db (observability.tally's)
            parts = os.path.basename(file)[: -len(".db")].split("_")
            live_gauge = parts[0] == "gauge" and len(parts) > 2 and parts[1].startswith("live")
            if live_gauge and parts[2].isdigit() and not _pid_alive(int(parts[2])):
                continue
            files.append(file)
        return files

    def collect(self) -> Iterable[object]:
        merged: Iterable[object] = self.merge(self.live_files(), accumulate=True)  # type: ignore[no-untyped-call]
        return merged


def release(path: str, pid: int | None = None) -> None:
    """Remove a worker's live gauges (its share of in-flight requests) when it stops."""
    mark_process_dead(pid if pid is not None else os.getpid(), path)  # type: ignore[no-untyped-call]
