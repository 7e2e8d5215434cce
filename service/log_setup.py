"""JSON logs for the worker and the CLI: one structlog pipeline for our own loggers and for the
standard-library records of the Temporal SDK (workflow.logger, activity.logger).

Every line carries the workflow and activity ids when it is written from inside one, so an
operator can go from a log line to the run in the UI. Identifiers only: the engine never logs a
name, an email address or a phone number.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog
from temporalio import activity
from temporalio import workflow as temporal_workflow


def add_temporal_context(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Activity ids from the running activity; workflow records bring theirs in `extra`."""
    if activity.in_activity():
        info = activity.info()
        event.setdefault("workflow_id", info.workflow_id)
        event.setdefault("activity_id", info.activity_id)
        event.setdefault("activity_type", info.activity_type)
        event.setdefault("attempt", info.attempt)
    workflow_extra = event.pop("temporal_workflow", None)
    if isinstance(workflow_extra, dict):
        event.setdefault("workflow_id", workflow_extra.get("workflow_id"))
        event.setdefault("workflow_type", workflow_extra.get("workflow_type"))
        event.setdefault("run_id", workflow_extra.get("run_id"))
    event.pop("temporal_activity", None)
    return event


# Loggers whose DEBUG records print payloads: the SDK's workflow activations and completions
# (signal inputs, activity arguments), activity completions (results) and heartbeat details
# (temporalio.worker.*); SQLAlchemy's result rows. Their DEBUG is never written, whatever the
# level: a debugging session must not copy candidates' names and addresses into the logs.
PAYLOAD_LOGGERS = ("temporalio.worker", "sqlalchemy")


class _NoPayloadDebug(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.INFO or not record.name.startswith(PAYLOAD_LOGGERS)


def configure_logging(level: str = "INFO") -> None:
    """Call once, at start-up of a process (never on import)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_temporal_context,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(),
        ],
    )
    # The SDK appends its context dict to each message; we carry it as fields instead.
    temporal_workflow.logger.workflow_info_on_message = False
    activity.logger.activity_info_on_message = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    handler.addFilter(_NoPayloadDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
