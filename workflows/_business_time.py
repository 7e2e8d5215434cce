"""Business time in workflow code: domain.business_time, its holiday lookups let out of the sandbox.

Workflow code imports the arithmetic from here, never from the domain directly: importing this
module installs the sandbox's escape hatch around the holiday tables (which read the locale while
they are built, a thing the sandbox forbids), and keeps the domain free of Temporal.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import business_time
    from domain.business_time import UnschedulableDate, add_business_days, business_days_before, add_business_hours, check_schedulable, local_moment, next_send_time

__all__ = ["UnschedulableDate", "add_business_days", "business_days_before", "add_business_hours", "check_schedulable", "local_moment", "next_send_time"]

business_time.guard_holiday_lookups(workflow.unsafe.sandbox_unrestricted)
