"""Which signed links have been used (inbox/links.py): a link acts once, however often it is
clicked or however many tabs post its form.

A use is written only after the process accepted the answer, so a click that failed (Temporal
down, a debrief the process refused) leaves the link usable. Two posts racing past the check both
reach the process, which takes the answer once (the event id or the update id is the link's id);
the primary key then keeps one row.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from store.migrations import upgrade_store
from store.schema import link_uses
from store.task_store import create_store_engine

_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}


class LinkUse(BaseModel):
    link_id: str
    action: str
    process_id: str
    used_at: datetime
    outcome: str | None = None


class LinkStore:
    def __init__(self, url_or_engine: str | Engine) -> None:
        self._owns_engine = isinstance(url_or_engine, str)
        self.engine = create_store_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
        upgrade_store(self.engine)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def use(self, link_id: str) -> LinkUse | None:
        with self.engine.connect() as connection:
            row = connection.execute(select(link_uses).where(link_uses.c.link_id == link_id)).mappings().one_or_none()
        return LinkUse.model_validate(dict(row)) if row else None

    def record_use(self, link_id: str, action: str, process_id: str, outcome: str) -> tuple[LinkUse, bool]:
        """The link's use: recorded now (True), or the one recorded before (False)."""
        statement = _INSERTS[self.engine.dialect.name](link_uses).values(
            link_id=link_id, action=action, process_id=process_id, outcome=outcome, used_at=datetime.now(UTC)
        )
        with self.engine.begin() as connection:
            # RETURNING rather than rowcount: psycopg reports a row for an insert that did nothing.
            inserted = statement.on_conflict_do_nothing(index_elements=[link_uses.c.link_id]).returning(link_uses.c.link_id)
            created = connection.execute(inserted).first() is not None
            row = connection.execute(select(link_uses).where(link_uses.c.link_id == link_id)).mappings().one()
        return LinkUse.model_validate(dict(row)), created
