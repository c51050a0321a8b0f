"""The alarm core's single owner: one thread holds the alarm state, everything else asks it.

The alert book, the alarm engine, the dispatch desk and the maintenance desk share one state
(open alerts, their timers, live work orders). One thread owns it (STYLE 15): readings batches,
clock ticks and operator actions (ack, shelve, dispatch, work-order steps) reach it as commands
on one bounded queue, each with its reply. Nothing else touches that state, so it needs no lock;
the API's reads go to the stores, which every batch's ``flush`` brings up to date in one
transaction.

``OwnerGuard`` is what the state's ``with book.guard`` blocks now enter: no lock, only a check
that the caller is the owner's thread while the owner runs. A path that reaches the state from
another thread fails loudly (``NotOwner``) instead of racing. While no owner thread runs (before
``start``, after ``stop``, or in a unit test that drives the book itself) the guard lets the
caller in, and ``Owner.call`` runs the command in the caller's thread under a plain lock, as
before.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotOwner(RuntimeError):
    """The alarm state was reached from a thread that does not own it."""


class OwnerBusy(RuntimeError):
    """The owner's queue stayed full (or the command unanswered) for the caller's whole wait."""


class OwnerGuard:
    """Entered wherever the alarm state is read or changed (``with book.guard``). Re-entrant and
    free: one comparison of thread ids."""

    def __init__(self) -> None:
        self._ident: int | None = None

    def bind(self, ident: int | None) -> None:
        self._ident = ident

    @property
    def bound(self) -> bool:
        return self._ident is not None

    def __enter__(self) -> None:
        ident = self._ident
        if ident is not None and ident != threading.get_ident():
            raise NotOwner(
                f"the alarm state was reached from thread {threading.current_thread().name!r}, "
                "not its owner: send a command through the owner (alerts/owner.py)"
            )

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None


class _Command:
    __slots__ = ("fn", "future", "queued")

    def __init__(self, fn: Callable[[], Any], future: Future[Any] | None, queued: float) -> None:
        self.fn, self.future, self.queued = fn, future, queued


_STOP = _Command(lambda: None, None, 0.0)


class Owner:
    """One thread and its bounded command queue.

    ``call`` sends a command and waits for its reply (the command's result, or its exception
    raised again in the caller); ``post`` sends one without waiting. A command that raises never
    ends the thread: the exception goes back to the caller (``call``) or is logged and counted
    (``post``). ``on_failure`` hears about those (the stage's health)."""

    def __init__(
        self,
        guard: OwnerGuard,
        *,
        name: str = "alarm-core",
        maxsize: int = 256,
        on_failure: Callable[[BaseException], None] | None = None,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self.guard, self.name, self._wall = guard, name, wall
        self._queue: queue.Queue[_Command] = queue.Queue(maxsize=maxsize)
        self._on_failure = on_failure
        self._thread: threading.Thread | None = None
        self._inline = threading.RLock()  # while no owner thread runs
        #: When the command being run was queued (monotonic), None when idle.
        self._running_since: float | None = None
        self.commands = 0
        self.failures = 0

    # -- state ---------------------------------------------------------------------------------
    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def busy_s(self) -> float:
        """How long the command under way has waited and run so far (0 when idle): the owner's
        lag, for ``/health``."""
        since = self._running_since
        return 0.0 if since is None else max(0.0, self._wall() - since)

    def facts(self) -> dict[str, Any]:
        return {
            "alive": self.running,
            "queue_depth": self.depth,
            "queue_max": self._queue.maxsize,
            "busy_s": round(self.busy_s(), 3),
            "commands": self.commands,
            "failures": self.failures,
        }

    # -- commands ------------------------------------------------------------------------------
    def call(self, fn: Callable[[], T], timeout_s: float | None = None) -> T:
        """Run ``fn`` on the owner's thread and return what it returns (or raise what it raised).
        ``timeout_s`` bounds each part of the wait (for room in the queue, for the answer): past
        it, ``OwnerBusy``. A command still queued then is cancelled (it never runs); one already
        running finishes, and its result shows in the alert's or order's history."""
        if threading.get_ident() == (self._thread.ident if self._thread else None):
            return fn()  # a command that sends another: run it in place
        if not self.running:
            with self._inline:
                return fn()
        future: Future[T] = Future()
        try:
            self._queue.put(_Command(fn, future, self._wall()), timeout=timeout_s)
        except queue.Full:
            raise OwnerBusy(f"the alarm core's queue has been full for {timeout_s:g} s; try again") from None
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            if future.cancel():  # still queued: it will not run, nothing changed
                raise OwnerBusy(
                    f"the alarm core did not take the action within {timeout_s:g} s; nothing was changed: "
                    "try again"
                ) from None
            raise OwnerBusy(
                f"the alarm core is still doing the action after {timeout_s:g} s: its result will "
                "show in the history"
            ) from None

    def post(self, fn: Callable[[], object]) -> bool:
        """Queue ``fn`` without waiting; False (and nothing queued) when the queue is full."""
        if not self.running:
            with self._inline:
                self._run(_Command(fn, None, self._wall()))
            return True
        try:
            self._queue.put_nowait(_Command(fn, None, self._wall()))
        except queue.Full:
            return False
        return True

    # -- the thread ----------------------------------------------------------------------------
    def start(self) -> None:
        if self.running:
            return
        ready = threading.Event()

        def loop() -> None:
            self.guard.bind(threading.get_ident())
            ready.set()
            try:
                while True:
                    command = self._queue.get()
                    if command is _STOP:
                        return
                    self._run(command)
            finally:
                self.guard.bind(None)

        self._thread = threading.Thread(target=loop, name=self.name, daemon=True)
        self._thread.start()
        ready.wait()

    def _run(self, command: _Command) -> None:
        future = command.future
        if future is not None and not future.set_running_or_notify_cancel():
            return
        self._running_since = command.queued
        try:
            result = command.fn()
        except BaseException as exc:  # the owner never dies on a command (STYLE 15)
            self.failures += 1
            if future is not None:
                future.set_exception(exc)  # raised again in the caller, who reports it
            else:
                log.exception("an alarm-core command failed")
                if self._on_failure is not None:
                    self._on_failure(exc)
        else:
            if future is not None:
                future.set_result(result)
        finally:
            self._running_since = None
            self.commands += 1

    def stop(self, timeout_s: float = 30.0) -> None:
        """Run what is queued, then end the thread."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._queue.put(_STOP)
        thread.join(timeout=timeout_s)
        if thread.is_alive():
            log.error("the alarm core did not stop within %g s", timeout_s)
