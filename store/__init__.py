"""Where the process's tasks and messages, and the accepted webhook deliveries, live."""

from store.task_store import TaskStore

# The store takes the URL it is given; the default (DATABASE_URL unset) is the settings' own
# (service/settings.py), so nothing here reads configuration.
__all__ = ["TaskStore"]
