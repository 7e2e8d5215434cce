"""Every side effect of the process: tasks for recruiters, escalations, messages to people."""
