"""A deployment's one-off steps, as its Jobs run them: `postinterview db upgrade` (with the
components' own upgrade switched off by DATABASE_AUTO_MIGRATE=false) and `postinterview
search-attributes` in a namespace that has none yet."""

from __future__ import annotations

import uuid
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.testing import WorkflowEnvironment

from domain.contract import SEARCH_ATTRIBUTES
from store.migrations import head_revision
from tests.cli.conftest import run_cli
from tests.harness import eventually


async def test_with_auto_migration_off_only_db_upgrade_changes_the_schema(database_url: str):
    env = {"DATABASE_URL": database_url, "DATABASE_AUTO_MIGRATE": "false", "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    current = await run_cli("db", "current", env=env)
    assert current.code == 1 and f"store none, code {head_revision()}" in current.stdout, current.output

    refused = await run_cli("tasks", env=env)
    assert refused.code != 0
    assert "run `postinterview db upgrade`" in refused.output and "DATABASE_AUTO_MIGRATE is off" in refused.output, refused.output
    assert (await run_cli("db", "current", env=env)).code == 1, "a component that only checks must not have upgraded it"

    upgraded = await run_cli("db", "upgrade", env=env)
    assert upgraded.code == 0 and f"to {head_revision()}" in upgraded.stdout, upgraded.output
    again = await run_cli("db", "upgrade", env=env)
    assert again.code == 0 and "nothing to do" in again.stdout, again.output
    assert (await run_cli("db", "current", env=env)).code == 0
    listed = await run_cli("tasks", env=env)
    assert listed.code == 0 and "No open tasks" in listed.stdout, listed.output


async def test_a_bad_auto_migrate_value_is_named(tmp_path):
    result = await run_cli("tasks", env={"DATABASE_URL": f"sqlite:///{tmp_path / 's.sqlite3'}", "DATABASE_AUTO_MIGRATE": "sometimes"})
    assert result.code == 2 and "DATABASE_AUTO_MIGRATE='sometimes'" in result.output, result.output


async def test_search_attributes_are_registered_once_in_a_new_namespace(dev_env: WorkflowEnvironment):
    namespace = f"cluster-{uuid.uuid4().hex[:8]}"
    await dev_env.client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=namespace, workflow_execution_retention_period=Duration(seconds=int(timedelta(days=1).total_seconds())))
    )
    env = {"TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host, "TEMPORAL_NAMESPACE": namespace}
    # A new namespace takes a moment to reach the frontend's cache.
    first = await eventually(lambda: _succeeds(run_cli("search-attributes", "--wait", "10", env=env)), timeout=60, interval=1, what="the first registration")
    assert f"{len(SEARCH_ATTRIBUTES)} search attribute(s) registered." in first.stdout, first.output

    listed = await dev_env.client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    for key in SEARCH_ATTRIBUTES:
        assert listed.custom_attributes[key.name] == IndexedValueType.ValueType(key.indexed_value_type), key.name

    second = await run_cli("search-attributes", env=env)
    assert second.code == 0 and "Every search attribute was already registered." in second.stdout, second.output


async def _succeeds(running):
    result = await running
    return result if result.code == 0 else None
