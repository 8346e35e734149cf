"""The Celery application, its configuration and the per-process database.

Run a worker with ``celery -A workers.app worker`` and beat with ``celery -A workers.app beat``
(``rucksack serve`` starts both for you on the embedded broker). Settings come from the same
place as the web tier's (``RUCKSACK_*`` environment, ``RUCKSACK_CONFIG``).

Every task is idempotent and acknowledged late (``acks_late``): a worker that dies mid-task leaves
the message on the broker, another worker runs it again, and running it twice has the effect of
running it once. Results are not stored: the database is where outcomes live.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.db import make_sync_engine, sync_sessions
from orchestrator.settings import Settings, load_settings

__all__ = ["celery_app", "configure", "db_sessions", "settings"]

_LOGGER = logging.getLogger(__name__)


class _State:
    settings: Settings | None = None
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None


_state = _State()


def settings() -> Settings:
    if _state.settings is None:
        _state.settings = load_settings()
    return _state.settings


def db_sessions() -> sessionmaker[Session]:
    """This process's sync sessions; the engine is made on first use, after any fork."""
    if _state.sessions is None:
        _state.engine = make_sync_engine(settings().database_url)
        _state.sessions = sync_sessions(_state.engine)
    return _state.sessions


def _reset_after_fork(**_: Any) -> None:
    # A pooled connection inherited from the parent must never be shared with a forked child.
    if _state.engine is not None:
        _state.engine.dispose(close=False)
    _state.engine = None
    _state.sessions = None


worker_process_init.connect(_reset_after_fork, weak=False)


def celery_config(s: Settings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "broker_url": s.broker_url,
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": 300,
        "task_soft_time_limit": 240,
        "task_serializer": "json",
        "accept_content": ["json"],
        "timezone": "UTC",
        "enable_utc": True,
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
        "beat_schedule_filename": str(s.data_path / "celerybeat-schedule"),
        "include": ["workers.tasks", "workers.notify", "workers.retention"],
    }
    # The embedded SQL transport polls every second (kombu's default for virtual transports);
    # its transport options go to create_engine, so none are set for it.
    if s.broker_url.startswith(("redis", "rediss")):
        # A message not acknowledged within this time goes back to the queue (acks_late + a
        # killed worker). It must be longer than the longest task.
        conf["broker_transport_options"] = {"visibility_timeout": 600}
    return conf


def configure(s: Settings) -> Celery:
    """Point the app (and this process's database) at ``s``; used by tests and the CLI."""
    _state.settings = s
    if _state.engine is not None:
        _state.engine.dispose()
    _state.engine = None
    _state.sessions = None
    celery_app.conf.update(celery_config(s))
    from workers.schedule import beat_schedule

    celery_app.conf.beat_schedule = beat_schedule()
    return celery_app


celery_app = Celery("rucksack")
configure(settings())
