"""Where the process's tasks and messages live, so recruiters (and the CLI) can see and act on them."""

from store.task_store import TaskStore, database_url

__all__ = ["TaskStore", "database_url"]
