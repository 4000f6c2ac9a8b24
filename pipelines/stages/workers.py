"""Fingerprinting workers that a hostile image can kill without stopping the crawl.

``WorkerPool`` is an ``Executor`` of worker processes that each run one task at a time over a
pipe of their own, under a CPU-time budget (``ITIMER_PROF``: the kernel ends the process with
SIGPROF once the task has used that much CPU, even inside a C decoder that never returns to
Python) and a memory limit (``RLIMIT_DATA``: an allocation beyond it fails as
``MemoryError``). A worker that dies fails only the task it was running, with ``WorkerDied``
naming why (``decode_timeout`` when the budget ended it, ``worker_crashed`` otherwise), and
a fresh one takes its place on the next task. A ``ProcessPoolExecutor`` cannot do this: one
dead worker breaks the whole pool (``BrokenProcessPool``) and every task in flight with it.
"""

from __future__ import annotations

import queue
import resource
import signal
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from multiprocessing.context import BaseContext
from typing import Any

BUDGET_REASON = "decode_timeout"
CRASH_REASON = "worker_crashed"


class WorkerDied(Exception):
    """The worker running a task ended before answering; ``reason`` is a drop reason."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


class WorkerPool(Executor):
    """``workers`` processes from ``context``; ``cpu_seconds`` per task (0: no budget),
    ``memory_mb`` of data per process (0: no limit), ``initializer`` run once in each."""

    def __init__(
        self,
        context: BaseContext,
        workers: int,
        cpu_seconds: float = 0.0,
        memory_mb: int = 0,
        initializer: Callable[[], None] | None = None,
    ):
        limits = (cpu_seconds, memory_mb * 1024 * 1024, initializer)
        self._workers = [_Worker(context, limits) for _ in range(workers)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for worker in self._workers:
            self._idle.put(worker)
        # One waiting thread per worker: a task never queues behind a busy pipe.
        self._threads = ThreadPoolExecutor(workers, thread_name_prefix="artwatch-worker")

    def start(self) -> None:
        """Start every worker now (blocking; the first start waits for the forkserver)."""
        for worker in self._workers:
            worker.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._threads.submit(self._run, fn, args, kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._threads.shutdown(wait=False, cancel_futures=cancel_futures)
        for worker in self._workers:
            worker.stop()
        if wait:
            self._threads.shutdown(wait=True)

    def _run(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        worker = self._idle.get()
        try:
            return worker.call(fn, args, kwargs)
        finally:
            self._idle.put(worker)


class _Worker:
    """One process and its pipe; started on first use and again after it died."""

    def __init__(self, context: BaseContext, limits: tuple):
        self.context, self.limits = context, limits
        self.process: Any = None
        self.conn: Any = None
        self.stopped = False

    def start(self) -> None:
        if self.process is None and not self.stopped:
            self.conn, child = self.context.Pipe()
            self.process = self.context.Process(
                target=_serve, args=(child, *self.limits), name="artwatch-worker", daemon=True
            )
            self.process.start()
            child.close()

    def call(self, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if self.process is not None and not self.process.is_alive():
            self._died()  # between tasks (the OOM killer): this task has not run yet
        self.start()
        if self.process is None:
            raise RuntimeError("the worker pool is shut down")
        try:
            self.conn.send((fn, args, kwargs))
            ok, value = self.conn.recv()
        except (EOFError, OSError) as error:
            raise self._died() from error
        if ok:
            return value
        raise value

    def _died(self) -> WorkerDied:
        self.process.join()
        code, self.process = self.process.exitcode, None
        self.conn.close()
        if code == -signal.SIGPROF:
            return WorkerDied(BUDGET_REASON, f"over its CPU budget of {self.limits[0]} s")
        return WorkerDied(CRASH_REASON, f"the worker process ended (exit code {code})")

    def stop(self) -> None:
        self.stopped = True
        process = self.process  # the waiting thread may clear it meanwhile
        if process is not None:
            process.kill()  # a task may be running; its waiting thread then gets EOF
            process.join()


def _serve(conn: Any, cpu_seconds: float, memory: int, initializer: Any) -> None:
    """Worker process: run tasks from ``conn`` until it closes."""
    signal.signal(signal.SIGPROF, signal.SIG_DFL)  # the budget ends the process
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # and leaves no core file behind
    if memory:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        if hard != resource.RLIM_INFINITY:
            memory = min(memory, hard)
        resource.setrlimit(resource.RLIMIT_DATA, (memory, hard))
    if initializer is not None:
        initializer()
    while True:
        try:
            fn, args, kwargs = conn.recv()
        except EOFError:
            return
        signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
        try:
            answer = (True, fn(*args, **kwargs))
        except Exception as error:
            answer = (False, error)
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
        try:
            conn.send(answer)
        except Exception as error:  # an answer that does not pickle: say so instead
            conn.send((False, RuntimeError(f"the answer could not be sent back: {error!r}")))
