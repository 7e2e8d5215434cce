"""Deployment settings, read once at the edge (worker, CLI) from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from domain.contract import TASK_QUEUE
from store.task_store import DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Settings:
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = TASK_QUEUE
    database_url: str = DEFAULT_DATABASE_URL
    policy_file: Path | None = Path("config/policy.toml")
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> "Settings":
        defaults = cls()
        policy = os.environ.get("POLICY_FILE")
        return cls(
            temporal_address=os.environ.get("TEMPORAL_ADDRESS", defaults.temporal_address),
            temporal_namespace=os.environ.get("TEMPORAL_NAMESPACE", defaults.temporal_namespace),
            task_queue=os.environ.get("TASK_QUEUE", defaults.task_queue),
            database_url=os.environ.get("DATABASE_URL", defaults.database_url),
            # An explicit POLICY_FILE must exist; the default one is used when present.
            policy_file=Path(policy) if policy else (defaults.policy_file if defaults.policy_file and defaults.policy_file.exists() else None),
            log_level=os.environ.get("LOG_LEVEL", defaults.log_level).upper(),
        )
