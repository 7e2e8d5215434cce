"""The engine's internal vocabulary: the names its own parts use to talk to each other.

Signals between the engine's workflows, the activities the workflows call by name, the statuses
written to the store, and which events are milestones. The public names (workflows, the `event`
signal, the updates, the query, search attributes) are in domain/contract.py.

Every value here is recorded somewhere: activity and signal names in workflow histories (a
renamed one no longer replays), statuses in the store's rows. Change a value only with a
migration; add names freely.
"""

from __future__ import annotations

from domain.events import EventType

# --- signals between the engine's own workflows ---------------------------------------------------

# PostInterviewProcess -> RefereeCheck: the ATS (or a recruiter) reported the referee's answer.
REFEREE_CONSENTED_SIGNAL = "referee_consented"
REFEREE_RESPONDED_SIGNAL = "referee_responded"
# PostInterviewProcess -> RefereeCheck: the referee declined (end without chasing), or enough
# references are in from the others (stand down: the referee hears they are no longer needed).
REFEREE_DECLINED_SIGNAL = "referee_declined"
REFEREE_NOT_NEEDED_SIGNAL = "referee_not_needed"
# PostInterviewProcess -> RefereeCheck: the process closed, finish at the next wait.
STOP_REFEREE_CHECK_SIGNAL = "stop"
# RefereeCheck -> PostInterviewProcess: where the reference stands, for the status and the UI.
REFEREE_PROGRESS_SIGNAL = "referee_progress"
# hand_over_to_relationship -> RelationshipProcess (signal-with-start): a candidate handed over.
HANDOVER_SIGNAL = "handover"
# reopen_relationship -> RelationshipProcess: an application it was handed is live again (its
# check-ins are dropped; a later close hands the candidate over again).
APPLICATION_REOPENED_SIGNAL = "application_reopened"
# The answer links of a check-in message (inbox/link_pages.py) -> RelationshipProcess: the
# candidate is open to opportunities, not now, or asks not to be contacted (domain.contact).
NURTURE_ANSWER_SIGNAL = "nurture_answer"

# --- queries between the engine's own parts ---------------------------------------------------------

# process_client -> a closed PostInterviewProcess: the state a reopened run starts from
# (domain.process_state.CarriedProcess).
CARRIED_STATE_QUERY = "carried_state"

# --- activities, as the workflows call them and the activities register ----------------------------

LOAD_TIMING_POLICY = "load_timing_policy"
CREATE_RECRUITER_TASK = "create_recruiter_task"
ESCALATE_TO_LEAD = "escalate_to_lead"
RESOLVE_TASKS = "resolve_tasks"
CANCEL_PROCESS_TASKS = "cancel_process_tasks"
MESSAGE_CANDIDATE = "message_candidate"
CONTACT_REFEREE = "contact_referee"
REMIND_RECRUITER = "remind_recruiter"
HAND_OVER_TO_RELATIONSHIP = "hand_over_to_relationship"
ENRICH_APPLICATION = "enrich_application"
UPDATE_OPEN_TASKS = "update_open_tasks"
REOPEN_RELATIONSHIP = "reopen_relationship"
# One open task's context changes (the feedback task gets the debrief it waited for).
UPDATE_RECRUITER_TASK = "update_recruiter_task"
# The candidate's debrief of a round, as a note on the ATS record (once per round).
WRITE_DEBRIEF_NOTE = "write_debrief_note"
# May the relationship contact its candidate (the contact_preferences table)?
CHECK_CONTACT_PREFERENCE = "check_contact_preference"
# The Notify workflow's channel activities (workflows/delivery.py, activities/channels.py).
DELIVER_EMAIL = "deliver_email"
POST_TO_SLACK = "post_to_slack"
POST_TO_TEAMS = "post_to_teams"
WRITE_ATS_NOTE = "write_ats_note"
# The Greenhouse interview poller (workflows/greenhouse_interviews.py, activities/greenhouse_harvest_poll.py).
POLL_GREENHOUSE_INTERVIEWS = "poll_greenhouse_interviews"
SWEEP_GREENHOUSE_CANCELLATIONS = "sweep_greenhouse_cancellations"

# The types of a store error as an activity failure (activities/store_failures.py): refused for
# good (a constraint, data the database cannot hold: non-retryable, the workflow records it and
# goes on), or unavailable for now (retried).
STORE_REFUSED = "StoreRefused"
STORE_UNAVAILABLE = "StoreUnavailable"

# --- statuses in the store ------------------------------------------------------------------------

# A recruiter's task (the `tasks` table).
TASK_OPEN = "open"
TASK_DONE = "done"
TASK_SNOOZED = "snoozed"
TASK_CANCELLED = "cancelled"
# Statuses in which a task still waits for somebody: the process may still close it.
TASK_PENDING = (TASK_OPEN, TASK_SNOOZED)

# A queued message (the `messages` table).
MESSAGE_QUEUED = "queued"
# Not sent: the candidate opted out, or the ATS says they must not be emailed (checked at send time).
MESSAGE_SUPPRESSED = "suppressed"

# A webhook delivery received by the intake (the `deliveries` table): waiting to be forwarded to
# the process, forwarded, or accepted without any event in it; given up on by the forwarder (the
# dead letters: a non-retryable error, or too many failed attempts) until an operator retries it
# (back to pending) or skips it (`postinterview deliveries`).
INTAKE_PENDING = "pending"
INTAKE_DELIVERED = "delivered"
INTAKE_IGNORED = "ignored"
INTAKE_FAILED = "failed"
INTAKE_SKIPPED = "skipped"

# A notification's statuses (the `notifications` table) are domain.delivery.NotificationStatus.

# --- milestones -----------------------------------------------------------------------------------

# Events whose first occurrence the process records with its time (ProcessStatus.milestones),
# and which the simulation's timeline marks as milestones.
MILESTONES = frozenset(
    {
        EventType.OFFER_EXTENDED,
        EventType.OFFER_ACCEPTED,
        EventType.CONTRACT_SIGNED,
        EventType.VETTING_PASSED,
        EventType.CANDIDATE_STARTED,
        EventType.CANDIDATE_REJECTED,
        EventType.CANDIDATE_WITHDREW,
        EventType.REFERENCES_REQUESTED,
        EventType.OFFER_WITHDRAWN,
        EventType.VETTING_FAILED,
        EventType.CANDIDATE_RENEGED,
    }
)

# The Bullhorn poller's activities (workflows/bullhorn_poller.py, activities/bullhorn.py).
BULLHORN_SUBSCRIBE = "bullhorn_subscribe"
BULLHORN_POLL = "bullhorn_poll"
# The Notify channel that puts a recruiter task in the ATS's task list (Bullhorn).
WRITE_ATS_TASK = "write_ats_task"
