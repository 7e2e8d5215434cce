"""The data keys of crypto-shredding (codec/data_keys.py explains them): `data_keys` (one per
candidate, wrapped by the master key) and `data_key_workflows` (which workflows each encrypts).
The codec reads and makes them through this class; erasure destroys them (store/erasure_store.py)."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from store.migrations import upgrade_store
from store.schema import data_key_workflows, data_keys
from store.task_store import create_store_engine

# The label that starts every data key's id (codec.data_keys.DATA_KEY_PREFIX, checked by a test).
DATA_KEY_PREFIX = "dk-"


class DataKeyStore:
    """The `data_keys` and `data_key_workflows` tables (store/schema.py), on the store's database.
    Opened on first use, migrating like every store (store.migrations.upgrade_store)."""

    def __init__(self, url_or_engine: str | Engine) -> None:
        self._url = url_or_engine if isinstance(url_or_engine, str) else None
        self._engine = url_or_engine if not isinstance(url_or_engine, str) else None
        self._open = threading.Lock()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._open:
                if self._engine is None:
                    assert self._url is not None
                    engine = create_store_engine(self._url)
                    upgrade_store(engine)
                    self._engine = engine
        return self._engine

    def key_of_workflow(self, workflow_id: str) -> str | None:
        with self.engine.connect() as connection:
            return connection.execute(select(data_key_workflows.c.key_id).where(data_key_workflows.c.workflow_id == workflow_id)).scalar()

    def key(self, key_id: str) -> Mapping[str, Any] | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(data_keys).where(data_keys.c.key_id == key_id)).mappings().first()
        return dict(row) if row else None

    def bind(self, subject: str, workflow_ids: Sequence[str], new_key: Callable[[str], tuple[str, str]]) -> Mapping[str, Any]:
        """The subject's key row (created with `new_key(key_id) -> (wrapped, wrapping key id)` if
        it has none), with `workflow_ids` registered under it unless they have a key already."""
        inserts = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}[self.engine.dialect.name]
        now = datetime.now(UTC)
        with self.engine.connect() as connection:
            row = connection.execute(select(data_keys).where(data_keys.c.subject == subject)).mappings().first()
            if row is not None and row["destroyed_at"] is not None:
                return dict(row)
            if row is not None and workflow_ids:
                known = set(
                    connection.execute(select(data_key_workflows.c.workflow_id).where(data_key_workflows.c.workflow_id.in_(list(workflow_ids)))).scalars()
                )
                if known >= set(workflow_ids):
                    return dict(row)
        with self.engine.begin() as connection:
            row = connection.execute(select(data_keys).where(data_keys.c.subject == subject)).mappings().first()
            if row is None:
                key_id = DATA_KEY_PREFIX + secrets.token_hex(12)
                wrapped, wrapping_key_id = new_key(key_id)
                connection.execute(
                    inserts(data_keys)
                    .values(key_id=key_id, subject=subject, wrapped_key=wrapped, wrapping_key_id=wrapping_key_id, created_at=now)
                    .on_conflict_do_nothing(index_elements=[data_keys.c.subject])
                )
                row = connection.execute(select(data_keys).where(data_keys.c.subject == subject)).mappings().one()
            if row["destroyed_at"] is None:
                for workflow_id in dict.fromkeys(workflow_ids):
                    connection.execute(
                        inserts(data_key_workflows)
                        .values(workflow_id=workflow_id, key_id=row["key_id"], created_at=now)
                        .on_conflict_do_nothing(index_elements=[data_key_workflows.c.workflow_id])
                    )
            return dict(row)
