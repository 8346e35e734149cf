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
