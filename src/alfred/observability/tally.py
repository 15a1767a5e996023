"""Per-worker aggregation of the per-request metrics: plain floats on the hot path.

prometheus_client's own metrics take a lock per update, and in multiprocess mode also write a
memory-mapped file per update; at a dozen updates a request that alone cost more than the Metrics
stage's 20 µs budget (bench/metrics_bench.py). A ``Tally`` keeps the request metrics as plain
numbers in this process instead (only the event loop's thread writes them) and hands them out in
prometheus_client's shapes: as a collector of this process's registry when there is one worker, or,
with several workers, by flushing them into prometheus_client's multiprocess files (from a thread,
at most ``flush_s`` after a change; at every scrape; at shutdown) so that any worker's scrape merges
them all. A scrape therefore sees other workers' numbers up to ``flush_s`` late.
"""

from __future__ import annotations

import asyncio
import glob
import os
import threading
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import mmap_dict, utils
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# prometheus_client's file format and number spelling, used as its multiprocess mode uses them (untyped there).
_MmapedDict: Any = mmap_dict.MmapedDict
_mmap_key: Any = mmap_dict.mmap_key
_go: Any = utils.floatToGoString

FILE_TAG = "tally"  # our files are <type>_<pid>_tally.db: prometheus_client's own are <type>_<pid>.db

Kind = Literal["counter", "histogram", "gauge"]


@dataclass(frozen=True)
class Family:
    """One metric the tally keeps: its name (without ``_total``), kind, help and label names."""

    name: str
    kind: Kind
    help: str
    labelnames: tuple[str, ...]
    buckets: tuple[float, ...] = ()
    go_buckets: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "go_buckets", (*(str(_go(b)) for b in self.buckets), "+Inf"))


class Cell:
    """A counter's or gauge's value for one label set."""

    __slots__ = ("dirty", "value")

    def __init__(self) -> None:
        self.value = 0.0
        self.dirty = True

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount
        self.dirty = True


class HistogramCell:
    """A histogram's bucket counts (not cumulative; the last is +Inf) and sum for one label set."""

    __slots__ = ("bounds", "counts", "dirty", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0.0] * (len(bounds) + 1)
        self.sum = 0.0
        self.dirty = True

    def observe(self, value: float) -> None:
        # bisect_left: the first bound >= value, as Prometheus' "le" means.
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.dirty = True


class Tally(Collector):
    """The per-request metrics of this process; a prometheus_client collector, and a flusher to files."""

    def __init__(
        self, families: list[Family], multiprocess_dir: str | None = None, flush_s: float = 1.0
    ) -> None:
        self._families = families
        self._cells: dict[Family, dict[tuple[str, ...], Cell | HistogramCell]] = {f: {} for f in families}
        self._dir = multiprocess_dir
        self._flush_s = flush_s
        self._files: dict[str, Any] = {}  # prefix -> prometheus_client MmapedDict
        self._keys: dict[tuple[Family, str, tuple[str, ...]], str] = {}
        self._flush_lock = threading.Lock()
        self._flush_loop: asyncio.AbstractEventLoop | None = None

    def cell(self, family: Family, labels: tuple[str, ...]) -> Cell:
        cells = self._cells[family]
        found = cells.get(labels)
        if found is None:
            found = cells[labels] = Cell()
        assert isinstance(found, Cell)
        return found

    def histogram(self, family: Family, labels: tuple[str, ...]) -> HistogramCell:
        cells = self._cells[family]
        found = cells.get(labels)
        if found is None:
            found = cells[labels] = HistogramCell(family.buckets)
        assert isinstance(found, HistogramCell)
        return found

    def touched(self) -> None:
        """Call after updates: in multiprocess mode, makes sure a flush follows within ``flush_s``."""
        if self._dir is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop to time a flush: the next scrape or ``close`` writes it
        if self._flush_loop is loop:
            return  # one is due already
        self._flush_loop = loop
        loop.call_later(self._flush_s, self._flush_in_thread, loop)

    def _flush_in_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        # Tens of ms when many series changed: not on the event loop. Reading cells while the loop
        # updates them is safe: each value is read whole, and ``flush`` clears ``dirty`` first.
        try:
            loop.run_in_executor(None, self.flush)
        except RuntimeError:  # the loop's executor is shutting down
            self.flush()

    # --- one process: a collector -----------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        for family in self._families:
            metric = Metric(family.name, family.help, family.kind)
            names = family.labelnames
            for labels, cell in list(self._cells[family].items()):
                base = dict(zip(names, labels, strict=True))
                if isinstance(cell, HistogramCell):
                    acc = 0.0
                    for bound, count in zip(family.go_buckets, list(cell.counts), strict=True):
                        acc += count
                        metric.add_sample(f"{family.name}_bucket", {**base, "le": bound}, acc)
                    metric.add_sample(f"{family.name}_count", base, acc)
                    metric.add_sample(f"{family.name}_sum", base, cell.sum)
                elif family.kind == "counter":
                    metric.add_sample(f"{family.name}_total", base, cell.value)
                else:
                    metric.add_sample(family.name, base, cell.value)
            yield metric

    # --- several processes: prometheus_client's multiprocess files --------------------------------

    def flush(self) -> None:
        """Write every changed value into this process's files (a scrape may run it from a thread)."""
        if self._dir is None:
            return
        with self._flush_lock:
            self._flush_loop = None
            for family in self._families:
                for labels, cell in list(self._cells[family].items()):
                    if not cell.dirty:
                        continue
                    cell.dirty = False  # before reading: an update racing this flush marks it again
                    self._write(family, labels, cell)

    def _write(self, family: Family, labels: tuple[str, ...], cell: Cell | HistogramCell) -> None:
        file = self._file("gauge_livesum" if family.kind == "gauge" else family.kind)
        if isinstance(cell, HistogramCell):
            for bound, count in zip(family.go_buckets, list(cell.counts), strict=True):
                file.write_value(self._key(family, "_bucket", (*labels, bound)), count, 0.0)
            file.write_value(self._key(family, "_sum", labels), cell.sum, 0.0)
        else:
            suffix = "_total" if family.kind == "counter" else ""
            file.write_value(self._key(family, suffix, labels), cell.value, 0.0)

    def _key(self, family: Family, suffix: str, labels: tuple[str, ...]) -> str:
        cache_key = (family, suffix, labels)
        key = self._keys.get(cache_key)
        if key is None:
            names = [*family.labelnames, "le"] if suffix == "_bucket" else list(family.labelnames)
            key = self._keys[cache_key] = _mmap_key(
                family.name, family.name + suffix, names, list(labels), family.help
            )
        return key

    def _file(self, prefix: str) -> Any:
        file = self._files.get(prefix)
        if file is None:
            assert self._dir is not None
            path = os.path.join(self._dir, f"{prefix}_{os.getpid()}_{FILE_TAG}.db")
            file = self._files[prefix] = _MmapedDict(path)
        return file

    def close(self) -> None:
        """Final flush; this process's gauges (in flight) leave the sums, its counters stay."""
        if self._dir is None:
            return
        self.flush()
        with self._flush_lock:
            for file in self._files.values():
                file.close()
            self._files.clear()
            for path in glob.glob(os.path.join(self._dir, f"gauge_*_{os.getpid()}_{FILE_TAG}.db")):
                os.remove(path)
