"""Independent pieces of a simulation, run side by side in forked worker processes.

The policies of a comparison share nothing but their request stream, which is read-only, so each can
run in its own process. Workers are forked after the stream is built: they inherit it as it is in
memory instead of receiving a pickled copy (tens of MB for a month) and send back only their
results, which are small. Results come back in the order of the tasks, and each task computes
exactly what it would in this process, so a run's figures do not depend on the number of workers.

Forking copies only the calling thread, so the caller must not hold other threads that a worker
could need (``alfred simulate`` draws its progress bar from the main thread for this reason).
Elsewhere than on Linux, where Python forks by default (macOS deems it unsafe, Windows lacks it),
the tasks run one after the other in this process.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle  # nosec B403 - only to test that our own exceptions survive the queue
import queue
import sys
from collections.abc import Callable, Sequence
from multiprocessing.context import ForkProcess
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Tick = Callable[[int], None]
"""A task's progress: units done so far."""

_POLL_S = 0.5  # how often the parent checks that its workers are still alive while it waits


class WorkerError(RuntimeError):
    """A worker process died without reporting (killed, out of memory)."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether workers are forked here: on Linux (macOS deems fork unsafe, Windows lacks it), and not
    from a daemonic worker process, which may not have children."""
    return sys.platform.startswith("linux") and not multiprocessing.current_process().daemon


def run_tasks(
    tasks: Sequence[T],
    work: Callable[[T, Tick], R],
    *,
    jobs: int,
    order: Sequence[int] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[R]:
    """``work(task, tick)`` for every task, in up to ``jobs`` processes; results in task order.

    ``order`` is the order tasks are handed out (longest first keeps the last worker from finishing
    alone); ``progress(task index, done)`` is called in this process as workers report. An exception
    in a task is raised here, after the other workers are stopped.
    """
    workers = min(jobs, len(tasks))
    if workers <= 1 or not can_fork():
        return [work(task, _ticker(progress, index)) for index, task in enumerate(tasks)]
    return _in_workers(tasks, work, workers, list(order or range(len(tasks))), progress)


def _ticker(progress: Callable[[int, int], None] | None, index: int) -> Tick:
    def tick(done: int) -> None:
        if progress is not None:
            progress(index, done)

    return tick


def _in_workers(
    tasks: Sequence[T],
    work: Callable[[T, Tick], R],
    workers: int,
    order: list[int],
    progress: Callable[[int, int], None] | None,
) -> list[R]:
    context = multiprocessing.get_context("fork")
    todo: multiprocessing.SimpleQueue[int | None] = context.SimpleQueue()
    messages: multiprocessing.Queue[tuple[str, int, Any]] = context.Queue()
    for index in order:
        todo.put(index)
    for _ in range(workers):
        todo.put(None)  # one stop sign per worker
    processes = [
        context.Process(target=_worker, args=(tasks, work, todo, messages), daemon=True)
        for _ in range(workers)
    ]
    results: dict[int, R] = {}
    # the workers inherit this process's objects; frozen, their garbage collector leaves them alone
    # instead of walking (and so copying) every inherited page
    gc.freeze()
    try:
        for process in processes:
            process.start()
        gc.unfreeze()
        while len(results) < len(tasks):
            try:
                kind, index, payload = messages.get(timeout=_POLL_S)
            except queue.Empty:
                _check_alive(processes)
                continue
            if kind == "tick":
                if progress is not None:
                    progress(index, payload)
            elif kind == "done":
                results[index] = payload
            else:
                raise payload
    finally:
        gc.unfreeze()
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join()
        messages.close()
        todo.close()
    return [results[index] for index in range(len(tasks))]


def _check_alive(processes: list[ForkProcess]) -> None:
    for process in processes:
        if process.exitcode not in (None, 0):
            raise WorkerError(f"a simulation worker died (exit code {process.exitcode})")
    if all(process.exitcode == 0 for process in processes):
        raise WorkerError("the simulation workers stopped before every task reported")


def _worker(
    tasks: Sequence[T],
    work: Callable[[T, Tick], R],
    todo: multiprocessing.SimpleQueue[int | None],
    messages: multiprocessing.Queue[tuple[str, int, Any]],
) -> None:
    while (index := todo.get()) is not None:

        def tick(done: int, index: int = index) -> None:
            messages.put(("tick", index, done))

        try:
            result = work(tasks[index], tick)
        except BaseException as exc:  # every failure, an interrupt too, goes back to the parent
            messages.put(("error", index, _portable(exc)))
            return
        messages.put(("done", index, result))


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling (the queue pickles it), else its words."""
    try:
        pickle.loads(pickle.dumps(exc))  # noqa: S301  # nosec B301 - bytes we just made
    except Exception:  # any failure to round-trip: send the words instead
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
