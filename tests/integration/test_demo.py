"""`rucksack demo` leaves a working set-up: the facilitator starts the first session and a
parent's personal link leads into the same room with a token a self-hosted Jitsi accepts."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote, urlsplit

import jwt

from orchestrator.demo import create_demo
from orchestrator.models import JitsiDeployment
from tests.support import csrf_token, login


def _token(location: str) -> str:
    fragment = urlsplit(location).fragment
    raw = unquote(re.search(r"jwt=([^&]+)", fragment).group(1))
    return json.loads(raw) if raw.startswith('"') else raw


async def test_demo_facilitator_starts_and_parent_joins_the_same_room(client, db, settings):
    result = create_demo(db, settings)
    db.commit()
    again = create_demo(db, settings)  # safe to run twice: new passwords and links
    db.commit()
    assert again.parent_links[0][2] != result.parent_links[0][2]
    deployment = db.query(JitsiDeployment).one()
    # End the read transaction: on SQLite it holds the write lock the app needs.
    db.commit()

    await login(client, again.facilitator_email, again.facilitator_password)
    page = await client.get("/facilitator")
    start = re.search(r'action="(/facilitator/sessions/\d+/start)"', await page.text()).group(1)
    resp = await client.post(
        start, data={"csrf_token": await csrf_token(client, "/facilitator")}, allow_redirects=False
    )
    assert resp.status == 303
    moderator_url = resp.headers["Location"]
    moderator = jwt.decode(
        _token(moderator_url), deployment.signing_secret, algorithms=["HS256"], audience="jitsi"
    )
    assert moderator["context"]["user"]["moderator"] is True

    client.session.cookie_jar.clear()
    personal = urlsplit(again.parent_links[0][2]).path
    session_id = start.split("/")[3]
    joined = await client.get(f"{personal}/s/{session_id}", allow_redirects=False)
    assert joined.status == 303
    parent_url = joined.headers["Location"]
    claims = jwt.decode(_token(parent_url), deployment.signing_secret, algorithms=["HS256"], audience="jitsi")
    assert claims["room"] == moderator["room"]
    assert urlsplit(parent_url).path == urlsplit(moderator_url).path
    assert claims["context"]["user"]["moderator"] is False
    assert claims["context"]["user"]["name"] == again.parent_links[0][0]
    assert claims["iss"] == "rucksack"
    assert claims["sub"] == deployment.domain


async def test_demo_webhook_stream_gives_the_expected_attendance(client, db, db_factory, settings):
    """The recorded stream of `rucksack demo-webhooks`, posted and processed, gives exact minutes."""
    import datetime as dt

    from orchestrator.attendance.processing import process_pending_events
    from orchestrator.db import transaction
    from orchestrator.demo import demo_event_stream
    from orchestrator.models import Attendance, Parent

    create_demo(db, settings)
    db.commit()
    prefix, secret, events = demo_event_stream(db)
    db.commit()
    for endpoint, body in events:
        resp = await client.post(
            f"{prefix}/events/{endpoint}",
            data=body,
            headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        )
        assert resp.status == 200, await resp.text()
    far_later = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    with transaction(db_factory) as tx:
        process_pending_events(tx, now=far_later, finalise_grace=dt.timedelta(minutes=30))
    with db_factory() as check:
        rows = {
            name: (a.computed_minutes, a.computed_status)
            for a, name in check.query(Attendance, Parent.display_name).join(
                Parent, Parent.id == Attendance.parent_id
            )
        }
    # 90-minute session. Ayşe: two overlapping connections from +1 min to the end = 89 min.
    assert rows["Ayşe"] == (89, "present")
    assert rows["Mariam"] == (75, "present")
    assert rows["Svetlana"] == (80, "present")
    assert rows["Olena"] == (40, "partial")
    assert rows["Zahra"] == (0, "absent")
    assert rows["Anna"] == (0, "absent")
