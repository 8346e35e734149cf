"""How the web tier is run: the event loop and the frozen start-up heap."""

from __future__ import annotations

import asyncio
import gc

import uvloop
from aiohttp import web

from orchestrator.web import server


def test_the_service_runs_on_uvloop() -> None:
    loop = server.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()


def test_start_up_objects_are_frozen_out_of_the_collectors_walks() -> None:
    app = web.Application()
    survivor = ["lives as long as the process"]  # a list: always tracked by the collector
    try:
        asyncio.run(server.freeze_startup_heap(app))
        assert gc.get_freeze_count() > 0
        # Frozen objects are no longer tracked in any generation a collection walks.
        assert not any(obj is survivor for obj in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(obj is survivor for obj in gc.get_objects())
