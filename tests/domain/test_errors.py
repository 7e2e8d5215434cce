"""The validation error formatter: the texts its callers (update refusals, webhook answers,
configuration and scenario files) have always shown."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, model_validator

from domain.errors import describe_validation_error, error_path, validation_problems


class _Step(BaseModel):
    at: int


class _Plan(BaseModel):
    name: str
    steps: list[_Step]

    @model_validator(mode="before")
    @classmethod
    def _not_empty(cls, data: object) -> object:
        if data == {}:
            raise ValueError("the plan is empty")
        return data


def failure(data: object) -> ValidationError:
    with pytest.raises(ValidationError) as failed:
        _Plan.model_validate(data)
    return failed.value


def test_paths_are_dotted_or_indexed():
    assert error_path(("steps", 2, "at")) == "steps.2.at"
    assert error_path(("steps", 2, "at"), indexed=True) == "steps[2].at"
    assert error_path(()) == ""


def test_each_problem_names_its_field_and_the_whole_object_by_its_root():
    error = failure({"name": "x", "steps": [{"at": 1}, {"at": "soon"}]})
    assert validation_problems(error, "plan") == ["steps.1.at: Input should be a valid integer, unable to parse string as an integer"]
    assert validation_problems(failure({}), "plan") == ["plan: Value error, the plan is empty"]
    assert validation_problems(failure({}), None, strip_value_error=True) == ["the plan is empty"]


def test_a_prefix_places_the_model_in_its_document_and_a_limit_counts_the_rest():
    error = failure({"name": "x", "steps": [{}] * 12})
    text = describe_validation_error(error, "body", prefix="event", limit=10)
    assert text.startswith("event.steps.0.at: Field required; ")
    assert text.endswith("event.steps.9.at: Field required; and 2 more")
    assert describe_validation_error(failure({}), "body", prefix="event") == "event: Value error, the plan is empty"
