"""Where the process's tasks and messages, and the accepted webhook deliveries, live."""

from store.task_store import DEFAULT_DATABASE_URL, TaskStore

__all__ = ["DEFAULT_DATABASE_URL", "TaskStore"]
