"""Deployment settings, read once at the edge (worker, CLI) from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

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


class SettingsError(ValueError):
    """A setting has a value the engine cannot use; the message names the variable."""


TUNERS = ("fixed", "resource-based")


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process runs: its slots, its cache, its shutdown and its metrics.

    Only the worker reads these (`postinterview worker`, `run`, `python worker.py`), so a bad
    value stops the worker at start-up and never the other commands.
    """

    # host:port of the worker's Prometheus endpoint (the SDK's metrics and the business
    # metrics the workflows emit); None: no endpoint.
    metrics_address: str | None = None
    # "fixed": at most the max_concurrent_* below at once. "resource-based": the SDK hands out
    # slots while the machine's CPU and memory stay under the targets, up to those maximums.
    tuner: Literal["fixed", "resource-based"] = "fixed"
    # Activities write to the store from a thread pool of this size: more than the store's
    # connection pool can serve would only queue them while their timeout runs.
    max_concurrent_activities: int = 16
    max_concurrent_workflow_tasks: int = 100
    # Runs kept in memory between their tasks; an evicted run replays its history when it next
    # has work, which costs CPU, not correctness.
    max_cached_workflows: int = 1000
    target_cpu_usage: float = 0.8
    target_memory_usage: float = 0.8
    # After SIGTERM, running activities get this long to finish before they are cancelled.
    shutdown_grace: timedelta = timedelta(seconds=30)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "WorkerOptions":
        """Raises SettingsError naming the variable whose value is unusable."""
        env = os.environ if environ is None else environ
        defaults = cls()
        tuner = env.get("WORKER_TUNER", defaults.tuner).strip().lower() or defaults.tuner
        if tuner not in TUNERS:
            raise SettingsError(f"WORKER_TUNER={tuner!r}: use one of {', '.join(TUNERS)}")
        metrics = env.get("WORKER_METRICS_ADDRESS", "").strip() or None
        if metrics is not None:
            metrics = _host_port("WORKER_METRICS_ADDRESS", metrics)
        return cls(
            metrics_address=metrics,
            tuner=tuner,  # type: ignore[arg-type]
            max_concurrent_activities=_positive_int(env, "WORKER_MAX_CONCURRENT_ACTIVITIES", defaults.max_concurrent_activities),
            max_concurrent_workflow_tasks=_positive_int(
                env, "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", defaults.max_concurrent_workflow_tasks, minimum=2
            ),
            max_cached_workflows=_positive_int(env, "WORKER_MAX_CACHED_WORKFLOWS", defaults.max_cached_workflows, minimum=0),
            target_cpu_usage=_fraction(env, "WORKER_TARGET_CPU_USAGE", defaults.target_cpu_usage),
            target_memory_usage=_fraction(env, "WORKER_TARGET_MEMORY_USAGE", defaults.target_memory_usage),
            shutdown_grace=timedelta(
                seconds=_positive_int(env, "WORKER_SHUTDOWN_GRACE_SECONDS", int(defaults.shutdown_grace.total_seconds()), minimum=0)
            ),
        )


def _positive_int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={value}: must be at least {minimum}")
    return value


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number (a fraction such as 0.8)") from None
    if not 0 < value <= 1:
        raise SettingsError(f"{name}={raw}: must be a fraction above 0 and at most 1 (e.g. 0.8 for 80 %)")
    return value


def _host_port(name: str, value: str) -> str:
    host, separator, port = value.rpartition(":")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"{name}={value!r}: expected host:port, e.g. 0.0.0.0:9464 or 127.0.0.1:9464")
    return value
