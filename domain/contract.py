"""The public contract between the engine and everything that talks to it.

ATS adapters, the operator tools and the Temporal UI rely on these names: change them only
with a migration plan, never in passing.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TASK_QUEUE = "post-interview"
# Deliveries (email, Slack, notes on the ATS record) run apart from the processes, so a slow mail
# server or a throttling API never takes the slots the processes need: the `Notify` workflows on
# `post-interview-deliveries`, and each channel's activities on a queue of its own beside it
# (`post-interview-deliveries-email`, `-slack`, `-ats_note`), rate-limited per channel.
DELIVERIES_SUFFIX = "-deliveries"
DELIVERY_TASK_QUEUE = TASK_QUEUE + DELIVERIES_SUFFIX


def delivery_task_queue(task_queue: str) -> str:
    """The queue of the `Notify` workflows beside the processes' queue `task_queue`."""
    return task_queue + DELIVERIES_SUFFIX


def channel_task_queue(task_queue: str, channel: str) -> str:
    """The queue of one channel's activities (`email`, `slack`, `ats_note`) beside `task_queue`
    (the processes' queue, or the deliveries' queue: both give the same)."""
    return delivery_task_queue(task_queue.removesuffix(DELIVERIES_SUFFIX)) + f"-{channel}"


POST_INTERVIEW_WORKFLOW = "PostInterviewProcess"
REFEREE_CHECK_WORKFLOW = "RefereeCheck"
RELATIONSHIP_WORKFLOW = "RelationshipProcess"

EVENT_SIGNAL = "event"
RECORD_DEBRIEF_UPDATE = "record_debrief"
# A recruiter completed a task with an outcome the process acts on (domain.follow_through.TaskCompletion).
COMPLETE_TASK_UPDATE = "complete_task"
STATUS_QUERY = "status"
# The error type of an update refused because the process has closed (placed, rejected,
# withdrawn): callers tell it apart from a refusal of the content (process_client.ProcessRefused.closed).
PROCESS_CLOSED_REFUSAL = "ProcessClosed"

# Search attributes an operator filters on in the Temporal UI, e.g.
# `ProcessStage = 'references' AND SlaBreached = true`. Identifiers only: never a name,
# an email address or a phone number (search attributes are stored unencrypted).
APPLICATION_ID = SearchAttributeKey.for_keyword("ApplicationId")
CANDIDATE_ID = SearchAttributeKey.for_keyword("CandidateId")
RECRUITER_ID = SearchAttributeKey.for_keyword("RecruiterId")
ATS_SOURCE = SearchAttributeKey.for_keyword("AtsSource")
PROCESS_STAGE = SearchAttributeKey.for_keyword("ProcessStage")
SLA_BREACHED = SearchAttributeKey.for_bool("SlaBreached")

SEARCH_ATTRIBUTES = (APPLICATION_ID, CANDIDATE_ID, RECRUITER_ID, ATS_SOURCE, PROCESS_STAGE, SLA_BREACHED)


def post_interview_workflow_id(source: str, application_id: str) -> str:
    """One process per application: the id makes signal-with-start route every event of an
    application to the same run."""
    return f"post-interview-{source}-{application_id}"


def relationship_workflow_id(source: str, candidate_id: str) -> str:
    """One relationship per candidate, outliving every application they make."""
    return f"relationship-{source}-{candidate_id}"


def referee_check_workflow_id(process_id: str, referee_id: str) -> str:
    return f"{process_id}-referee-{referee_id}"


def referee_check_parent(workflow_id: str) -> tuple[str, str] | None:
    """(process id, referee id) of a referee check's workflow id; None for any other id."""
    process_id, found, referee_id = workflow_id.rpartition("-referee-")
    if not found or not process_id.startswith("post-interview-") or not referee_id:
        return None
    return process_id, referee_id


NOTIFY_WORKFLOW = "Notify"


def notify_workflow_id(subject_kind: str, subject_key: str) -> str:
    """One delivery per message or task: a retried activity that starts it again is refused."""
    return f"notify-{subject_kind}-{subject_key}"
