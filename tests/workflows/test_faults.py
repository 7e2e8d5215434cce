"""What a process records of a failure it skips: a reason an operator can act on, never the data
(workflows/_faults.py; issue 12, findings 3 and 6)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError
from temporalio.api.enums.v1 import RetryState
from temporalio.exceptions import ActivityError, ApplicationError

from domain.business_time import UnschedulableDate, check_schedulable
from domain.events import Candidate
from workflows import _faults as faults


def test_a_refused_write_is_named_by_its_type_and_the_activitys_own_message():
    error = ActivityError(
        "Activity task failed",
        scheduled_event_id=5,
        started_event_id=6,
        identity="worker",
        activity_type="create_recruiter_task",
        activity_id="3",
        retry_state=RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE,
    )
    error.__cause__ = ApplicationError("the store refused the write: DataError (DataError): NUL", type="StoreRefused", non_retryable=True)
    assert faults.kind(error) == "StoreRefused"
    assert faults.reason(error) == "a step failed for good: StoreRefused: the store refused the write: DataError (DataError): NUL"


def test_invalid_data_is_reported_by_field_without_the_value():
    with pytest.raises(ValidationError) as raised:
        Candidate.model_validate({"id": "c 1", "email": "Ada Lovelace <not an address>"})
    reason = faults.reason(raised.value)
    assert reason.startswith("invalid data: ") and "email" in reason and "Ada" not in reason
    assert faults.kind(raised.value) == "ValidationError"


def test_dates_a_deadline_cannot_be_counted_from():
    check_schedulable("start_date", date(2100, 12, 31))
    check_schedulable("start_date", date(1970, 1, 1))
    for placeholder in (date(1, 1, 1), date(9999, 12, 31), date(1969, 12, 31), date(2101, 1, 1)):
        with pytest.raises(UnschedulableDate, match=f"start_date {placeholder.isoformat()} is outside"):
            check_schedulable("start_date", placeholder)
