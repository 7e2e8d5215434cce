"""Signals that come in bursts: taken in constant time, worked off a batch per activation.

A burst of thousands of `event` signals (a noisy ATS, an intake catching up after an outage)
reaches the worker as one workflow activation. Before, every signal was decoded and validated
(pydantic) in its handler and every event handled in that same activation; on a busy worker
that held the workflow thread past the SDK's 2 s deadlock limit ("Potential deadlock
detected"), the workflow task failed, and its retry carried the signals that had come in
meanwhile as well: the process never caught up.

Now the handler keeps the signal's payload as it came (`RawValue`, no decoding) and returns.
The main loop decodes and handles at most `EVENTS_PER_ACTIVATION` of them, then ends the
activation with a 1 ms timer, so one activation's work is bounded whatever the burst.

Replay: behind `workflow.patched(BOUNDED_ACTIVATIONS)`. Runs recorded before decode and take
each event in the handler, as they did, and never start the timer.
"""

from __future__ import annotations

from collections import deque
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from domain.events import CanonicalEvent

BOUNDED_ACTIVATIONS = "bounded-activations"

# A hundred events decoded and handled per activation (two units of work each): on the loaded
# 2-core machine of bench/README.md ("Signal bursts"), whose workflow thread got a fraction of a
# core, no such activation came near the 2 s limit; the cost of a larger batch grows with it,
# that of a smaller one is more activations (a timer and a workflow task each).
EVENTS_PER_ACTIVATION = 100
_WORK_PER_ACTIVATION = 2 * EVENTS_PER_ACTIVATION

# Ending an activation needs a command the server answers: the shortest timer there is.
_BREATHER = timedelta(milliseconds=1)


def decoded(raw: RawValue | CanonicalEvent) -> CanonicalEvent | None:
    """The canonical event in a signal's payload; None (logged, dropped, as the SDK drops a
    signal whose input it cannot decode) if it is not one. The log names no field values."""
    if isinstance(raw, CanonicalEvent):
        return raw
    try:
        return workflow.payload_converter().from_payload(raw.payload, CanonicalEvent)
    except Exception as error:
        workflow.logger.warning("event signal that is not a canonical event dropped", extra={"error_type": type(error).__name__})
        return None


class Arrivals:
    """Events signalled (or made facts by an update) and not taken yet, in the order they came."""

    def __init__(self) -> None:
        self._waiting: deque[RawValue | CanonicalEvent] = deque()
        self._work = 0
        self._activation = -1
        self._bounded: bool | None = None

    def bounded(self) -> bool:
        """Whether this run works its arrivals off in bounded activations (asked once: patched)."""
        if self._bounded is None:
            self._bounded = workflow.patched(BOUNDED_ACTIVATIONS)
        return self._bounded

    def add(self, item: RawValue | CanonicalEvent) -> None:
        self._waiting.append(item)

    def __bool__(self) -> bool:
        return bool(self._waiting)

    def __len__(self) -> int:
        return len(self._waiting)

    async def next(self) -> CanonicalEvent | None:
        """The oldest arrival, decoded (None if it was not an event); paced like a handled event."""
        await self.pace()
        return decoded(self._waiting.popleft())

    async def pace(self) -> None:
        """Count one unit of work (an event decoded, or handled); once this activation has done its
        share, end it (a 1 ms timer) so the SDK gets the thread back before its deadlock limit.
        Only an activation's own work counts: a process taking a few events per workflow task
        never waits on a timer (it would let a sender that waits for each answer run ahead of
        it). No-op in runs recorded before."""
        if not self._bounded:
            return
        # The history's length identifies the activation (it grows with every workflow task),
        # and replays as it ran.
        activation = workflow.info().get_current_history_length()
        if activation != self._activation:
            self._activation, self._work = activation, 0
        if self._work >= _WORK_PER_ACTIVATION:
            await workflow.sleep(_BREATHER, summary="Catching up with a burst of events")
            self._activation, self._work = workflow.info().get_current_history_length(), 0
        self._work += 1
