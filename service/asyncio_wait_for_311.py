"""Timed waits that replay the same on every Python the engine supports.

`workflow.wait_condition(fn, timeout=...)` (every deadline a process waits for: a debrief's
reminder, an interview's end, a check-in) runs on `asyncio.wait_for`, and Python 3.12 rewrote
`asyncio.wait_for` on top of `asyncio.timeout` (cpython#96764). The rewrite takes fewer turns of
the event loop between the condition coming true (or the timer firing) and the caller going on.
A workflow's commands are issued in the order its coroutines run, so when two of a process's
duties wake in the same workflow task (an interview's watch ending while an event is handled), a
3.12 worker issued their commands in another order than the 3.11 worker that recorded the
history: "Timer machine does not handle this event: UpsertWorkflowSearchAttributes", a
nondeterminism error, and a running process wedged by nothing but a Python upgrade.

The Temporal SDK calls `asyncio.wait_for` in that one place (its wait_condition). `install()`
gives the SDK's workflow module an `asyncio` whose `wait_for` is 3.11's, verbatim, on every
Python: the loop turns, and so the order of the commands, are 3.11's wherever the worker or the
replayer runs. Everything else in that module, and every other use of asyncio in the process, is
left alone. `worker.workflow_runner()` installs it, so the worker, the replay tests and
`postinterview replay` all run with it; tests/workflows/test_replay.py replays the recorded
histories on each Python that CI runs.
"""

from __future__ import annotations

import asyncio
import functools
import types
from typing import Any

from temporalio.worker import _workflow_instance


def _release_waiter(waiter: asyncio.Future[Any], *args: Any) -> None:
    if not waiter.done():
        waiter.set_result(None)


async def _cancel_and_wait(fut: asyncio.Future[Any], loop: asyncio.AbstractEventLoop) -> None:
    waiter = loop.create_future()
    cb = functools.partial(_release_waiter, waiter)
    fut.add_done_callback(cb)
    try:
        fut.cancel()
        await waiter
    finally:
        fut.remove_done_callback(cb)


async def wait_for(fut: Any, timeout: float | None) -> Any:
    """CPython 3.11.7's `asyncio.wait_for` (Lib/asyncio/tasks.py, PSF licence), unchanged but
    for names: the exact sequence of awaits is the point."""
    loop = asyncio.get_running_loop()

    if timeout is None:
        return await fut

    if timeout <= 0:
        fut = asyncio.ensure_future(fut, loop=loop)
        if fut.done():
            return fut.result()
        await _cancel_and_wait(fut, loop=loop)
        try:
            return fut.result()
        except asyncio.CancelledError as exc:
            raise asyncio.TimeoutError() from exc

    waiter = loop.create_future()
    timeout_handle = loop.call_later(timeout, _release_waiter, waiter)
    cb = functools.partial(_release_waiter, waiter)

    fut = asyncio.ensure_future(fut, loop=loop)
    fut.add_done_callback(cb)

    try:
        try:
            await waiter
        except asyncio.CancelledError:
            if fut.done():
                return fut.result()
            fut.remove_done_callback(cb)
            await _cancel_and_wait(fut, loop=loop)
            raise

        if fut.done():
            return fut.result()
        fut.remove_done_callback(cb)
        await _cancel_and_wait(fut, loop=loop)
        try:
            return fut.result()
        except asyncio.CancelledError as exc:
            raise asyncio.TimeoutError() from exc
    finally:
        timeout_handle.cancel()


class _AsyncioWithWaitFor311(types.ModuleType):
    """`asyncio`'s names (copied once: the SDK reads them on hot paths), but for `wait_for`."""

    def __init__(self) -> None:
        super().__init__(asyncio.__name__, asyncio.__doc__)
        self.__dict__.update({k: v for k, v in vars(asyncio).items() if not k.startswith("__")})
        self.wait_for = wait_for


def install() -> None:
    """Make the SDK's workflow wait_condition use 3.11's wait_for (idempotent)."""
    if not isinstance(_workflow_instance.asyncio, _AsyncioWithWaitFor311):
        _workflow_instance.asyncio = _AsyncioWithWaitFor311()  # type: ignore[assignment]


def installed() -> bool:
    return isinstance(_workflow_instance.asyncio, _AsyncioWithWaitFor311)
