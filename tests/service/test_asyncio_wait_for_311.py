"""Timed waits take the same turns of the event loop on every Python (service/asyncio_wait_for_311.py).

The order of a workflow's commands is the order its coroutines run in; these tests pin the number
of loop turns between a future's completion (or a timer's firing) and the waiter going on, which
is what Python 3.12's rewrite of asyncio.wait_for changed. The recorded histories replayed on each
Python CI runs (tests/workflows/test_replay.py) are the end-to-end proof.
"""

from __future__ import annotations

import asyncio

from temporalio.worker import _workflow_instance

from service import asyncio_wait_for_311


async def _turns_until_done(waiting: asyncio.Task[object], trigger: object) -> int:
    """Loop turns, counted by a coroutine that yields once per turn, between `trigger` and the
    waiting task finishing."""
    turns = 0
    if isinstance(trigger, asyncio.Future):
        trigger.set_result("ready")
    while not waiting.done():
        await asyncio.sleep(0)
        turns += 1
    return turns


async def _condition_comes_true() -> tuple[int, object]:
    loop = asyncio.get_running_loop()
    condition = loop.create_future()
    waiting = asyncio.create_task(asyncio_wait_for_311.wait_for(condition, 60))
    await asyncio.sleep(0)  # the waiter starts: its timer is set, it awaits
    turns = await _turns_until_done(waiting, condition)
    return turns, waiting.result()


def test_a_condition_coming_true_returns_after_the_turns_python_3_11_took():
    turns, result = asyncio.run(_condition_comes_true())
    # 3.11: the future's callback releases the waiter (1), the task wakes and returns (2), and the
    # counter sees it done on its next turn. 3.12's asyncio.wait_for takes one turn fewer.
    assert (turns, result) == (2, "ready")


async def _timer_fires() -> tuple[int, str]:
    loop = asyncio.get_running_loop()
    condition = loop.create_future()
    waiting = asyncio.create_task(asyncio_wait_for_311.wait_for(condition, 0.01))
    await asyncio.sleep(0.05)
    outcome = "timed out" if waiting.done() and isinstance(waiting.exception(), TimeoutError) else "waiting"
    return (1 if condition.cancelled() else 0), outcome


def test_a_timeout_cancels_the_condition_and_raises_timeout_error():
    assert asyncio.run(_timer_fires()) == (1, "timed out")


def test_the_worker_and_replayer_sandbox_installs_it_for_the_sdk_alone():
    import worker

    worker.workflow_runner()
    assert asyncio_wait_for_311.installed()
    assert _workflow_instance.asyncio.wait_for is asyncio_wait_for_311.wait_for
    # Everything else the SDK reads from asyncio is asyncio's own, and asyncio itself is untouched.
    assert _workflow_instance.asyncio.Future is asyncio.Future
    assert _workflow_instance.asyncio.CancelledError is asyncio.CancelledError
    assert asyncio.wait_for is not asyncio_wait_for_311.wait_for
