"""The recruiters' side of the HTTP service, added to the intake's app (one service, one port)."""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi import FastAPI

from inbox import api, link_pages, pages
from inbox.desk import TaskDesk
from process_client import connect
from settings import Settings
from store.access_store import AccessStore
from store.task_store import TaskStore


def build_desk(settings: Settings) -> TaskDesk:
    tasks = TaskStore(settings.database_url)
    return TaskDesk(tasks, AccessStore(tasks.engine), lambda: connect(settings.temporal_address, settings.temporal_namespace))


def mount_inbox(app: FastAPI, settings: Settings, desk: TaskDesk | None = None) -> Callable[[], None]:
    """Mount the task API (and the inbox pages, and the signed links' pages) on `app`; returns what closes their store."""
    desk = desk or build_desk(settings)
    api.mount(app, desk)
    pages.mount(app, desk, os.environ.get("TEMPORAL_UI_URL"), settings.temporal_namespace, os.environ.get("PUBLIC_BASE_URL"))
    link_pages.mount(app, link_pages.build(settings, desk.tasks.engine))
    return desk.tasks.close
