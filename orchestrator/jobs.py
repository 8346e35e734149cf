"""Sending background jobs to the workers, from the web tier and the CLI.

The database is the source of truth for every job: a job only says "look at this now". If the
broker is down when a request commits, nothing is lost: the periodic sweeper finds the work in the
database (unprocessed inbox events, sessions to finalise, notifications due). So sending is done
after the commit, off the event loop, and a failure to send is logged, not raised.

Tasks are addressed by name so the web tier never imports the worker code.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from celery import Celery

__all__ = ["CeleryJobs", "JobQueue", "RecordingJobs"]

_LOGGER = logging.getLogger(__name__)


class JobQueue(Protocol):
    def send(self, task: str, *args: Any, countdown: float | None = None) -> None: ...

    async def send_async(self, task: str, *args: Any) -> None: ...


class CeleryJobs:
    """Sends tasks by name through the configured broker."""

    def __init__(self, broker_url: str):
        self._celery = Celery("rucksack-producer", broker=broker_url, set_as_current=False)
        self._celery.conf.broker_connection_retry_on_startup = False
        # A broker that is down must not hang a request: fail fast, the sweeper catches up.
        self._celery.conf.broker_transport_options = {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
        }

    def send(self, task: str, *args: Any, countdown: float | None = None) -> None:
        try:
            self._celery.send_task(task, args=list(args), countdown=countdown, retry=False)
        except Exception:  # any broker error: the database still holds the work
            _LOGGER.warning("could not send job %s; the sweeper will pick the work up", task, exc_info=True)

    async def send_async(self, task: str, *args: Any) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.send, task, *args)


class RecordingJobs:
    """Keeps what would have been sent; for tests and for running without any broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[Any, ...]]] = []

    def send(self, task: str, *args: Any, countdown: float | None = None) -> None:
        self.sent.append((task, args))

    async def send_async(self, task: str, *args: Any) -> None:
        self.send(task, *args)
