"""The deployment's runtime pieces against a real Temporal server (the dev server from the
project's test dependencies, as in tests/conftest.py): the namespace/search-attribute setup job
and the worker's container health check. The dev server keeps visibility in SQLite, so custom
search attributes go through the same SQL path (per-namespace aliases) as on PostgreSQL.

The schema job (temporal-sql-tool) is not run here: that tool ships only in the admin-tools image.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import uuid

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from domain.contract import SEARCH_ATTRIBUTES
from service.settings import Settings
from tests.deployment.deployfiles import NAMESPACE_SCRIPT, REPO
from tests.harness import BIN, eventually, eventually_sync, running_engine

HEALTHCHECK = REPO / "deploy" / "worker_healthcheck.py"

needs_dev_server = pytest.mark.skipif(
    not (BIN / "temporal").exists() or shutil.which("sh") is None,
    reason=f"needs the Temporal CLI at {BIN / 'temporal'} (test extras) and a POSIX sh",
)


def address_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def healthcheck_module():
    spec = importlib.util.spec_from_file_location("worker_healthcheck", HEALTHCHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_namespace_setup(address: str, namespace: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_NAMESPACE": namespace,
        "TEMPORAL_NAMESPACE_RETENTION": "7d",
        "SETUP_TIMEOUT_SECONDS": "60",
    }
    return subprocess.run(["sh", str(NAMESPACE_SCRIPT)], env=env, capture_output=True, text=True, timeout=120)


@needs_dev_server
async def test_namespace_setup_creates_the_namespace_and_the_contract_search_attributes(dev_env: WorkflowEnvironment):
    namespace = f"deploy-test-{uuid.uuid4().hex[:8]}"
    address = address_of(dev_env)

    first = await asyncio.to_thread(run_namespace_setup, address, namespace)
    assert first.returncode == 0, f"setup-namespace.sh failed:\n{first.stdout}\n{first.stderr}"
    # Idempotent: a second run (every `docker compose up`) finds everything in place.
    second = await asyncio.to_thread(run_namespace_setup, address, namespace)
    assert second.returncode == 0, f"setup-namespace.sh failed on re-run:\n{second.stdout}\n{second.stderr}"
    assert "namespace " + namespace + " exists" in second.stdout

    described = await dev_env.client.workflow_service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    assert described.config.workflow_execution_retention_ttl.ToSeconds() == 7 * 24 * 3600

    listed = await dev_env.client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    custom = dict(listed.custom_attributes)
    expected = {key.name: key.indexed_value_type for key in SEARCH_ATTRIBUTES}
    assert {name: custom.get(name) for name in expected} == expected, f"registered custom attributes: {custom}"


@needs_dev_server
async def test_namespace_setup_refuses_an_attribute_registered_with_another_type(dev_env: WorkflowEnvironment):
    namespace = f"deploy-test-{uuid.uuid4().hex[:8]}"
    address = address_of(dev_env)
    temporal = str(BIN / "temporal")

    def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([temporal, "operator", *args, "--namespace", namespace, "--address", address], capture_output=True)

    def register_wrong_type() -> None:
        assert cli("namespace", "create").returncode == 0

        def registered() -> bool:
            done = cli("search-attribute", "create", "--name", "SlaBreached", "--type", "Keyword")
            assert done.returncode == 0, f"could not register SlaBreached as Keyword: {done.stderr!r}"
            return True

        # A new namespace takes a moment to reach the caches.
        eventually_sync(registered, timeout=20, interval=0.2, what="SlaBreached registered as Keyword")

    await asyncio.to_thread(register_wrong_type)
    result = await asyncio.to_thread(run_namespace_setup, address, namespace)
    assert result.returncode != 0, f"setup-namespace.sh accepted a type conflict:\n{result.stdout}"
    assert "SlaBreached is registered as Keyword, expected Bool" in result.stderr


@needs_dev_server
async def test_healthcheck_reports_this_workers_polls(dev_env: WorkflowEnvironment, store_url, task_queue, activity_pool):
    health = healthcheck_module()
    settings = Settings(temporal_address=address_of(dev_env), temporal_namespace=dev_env.client.namespace, task_queue=task_queue)
    hostname = socket.gethostname()

    healthy, message = await health.check(settings, hostname)
    assert not healthy, f"no worker runs yet, but the health check says: {message}"

    async with running_engine(dev_env, store_url, task_queue, activity_pool):

        async def reports_healthy() -> bool:
            healthy, message = await health.check(settings, hostname)
            return healthy

        await eventually(reports_healthy, timeout=20, what="the health check to see the worker's polls")
        healthy, message = await health.check(settings, hostname)
        assert healthy and hostname in message and task_queue in message, message

        # Another replica (another hostname) is not vouched for by this one's polls.
        healthy, message = await health.check(settings, "some-other-container")
        assert not healthy, message

        # The script as Docker runs it: settings from the environment, exit status 0.
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "TEMPORAL_ADDRESS": settings.temporal_address,
            "TEMPORAL_NAMESPACE": settings.temporal_namespace,
            "TASK_QUEUE": task_queue,
        }
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"health check exited {done.returncode}: {done.stdout}{done.stderr}"
        assert done.stdout.startswith("healthy:"), done.stdout


def test_healthcheck_is_unhealthy_when_temporal_is_unreachable():
    env = {**os.environ, "PYTHONPATH": str(REPO), "TEMPORAL_ADDRESS": "127.0.0.1:1", "TASK_QUEUE": "post-interview"}
    done = subprocess.run([sys.executable, str(HEALTHCHECK)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, f"exit {done.returncode}: {done.stdout}{done.stderr}"
    assert done.stdout.startswith("unhealthy:"), done.stdout
