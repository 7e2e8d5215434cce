"""The engine's converter reads a history back as it was written (issue 12, finding 3).

The bounds on input (domain/bounds.py) are checked where input enters. An event recorded before
a bound existed, or sent past the edge, must still decode in the worker: otherwise the SDK drops
the signal on replay (a nondeterministic history, the process stuck) or fails the start input for
ever. The process refuses what it cannot act on itself (tests/workflows/test_poison_events.py).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from codec.encryption import engine_data_converter
from domain.events import CanonicalEvent, Candidate, InterviewData
from tests.events import Application


def test_an_event_past_the_bounds_is_refused_at_the_edge_and_read_back_as_recorded():
    event = Application().interview(2, "interview.scheduled")
    event = event.model_copy(
        update={
            "data": InterviewData.model_construct(interview_id="int-2", round=2, at=datetime(1, 1, 1, tzinfo=UTC)),
            "candidate": Candidate.model_construct(**{**event.candidate.model_dump(), "name": "Ada\x00Lovelace"}),
        }
    )
    with pytest.raises(ValidationError):
        CanonicalEvent.model_validate(event.model_dump(mode="json"))

    converter = engine_data_converter.payload_converter
    [decoded] = converter.from_payloads(converter.to_payloads([event]), [CanonicalEvent])
    assert decoded.data.at == datetime(1, 1, 1, tzinfo=UTC) and decoded.candidate.name == "Ada\x00Lovelace"
    # ... and the edge still refuses it afterwards (the leniency ends with the decoding).
    with pytest.raises(ValidationError):
        CanonicalEvent.model_validate(event.model_dump(mode="json"))
