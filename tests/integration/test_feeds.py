"""Calendar feeds served by the app agree with the database, on SQLite and PostgreSQL.

The world: one centre with two groups the parent is in (a Tuesday morning series and a Thursday
afternoon series, each starting ten weeks ago and running for forty weeks, so both cross a DST
change; plus a one-off session), a third group the parent is not in, a facilitator leading the
first group, and a coordinator. Sessions are moved, cancelled and edited with the scheduling use
cases. Every served feed is read by independent parsers and compared, as UTC instants, with the
sessions the database holds for that person (``expected_for``), computed here without the
feeds code.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import zoneinfo
from collections import Counter
from typing import Any

import icalendar
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session as DbSession

from orchestrator import i18n
from orchestrator import models as m
from orchestrator.feeds.views import FEEDS
from orchestrator.groups import services as groups
from orchestrator.scheduling import services as scheduling
from orchestrator.security import hash_secret
from orchestrator.web.keys import CACHE
from tests import factories
from tests.unit.calendars.lint import assert_lint_clean, text_value
from tests.unit.feeds.checks import Instance, assert_parsers_agree, expand

UTC = dt.UTC
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


@dataclasses.dataclass
class World:
    centre: m.Centre
    coordinator: m.StaffUser
    facilitator: m.StaffUser
    group_a: m.Group
    group_b: m.Group
    group_c: m.Group
    series_a: m.Series
    series_b: m.Series
    parent: m.Parent
    parent_secret: str
    facilitator_secret: str
    coordinator_secret: str

    def actor(self, db: DbSession, user: m.StaffUser | None = None) -> Any:
        return factories.staff_actor(db, user or self.coordinator)


def _weekday_before(day: dt.date, weekday: int) -> dt.date:
    return day - dt.timedelta(days=(day.weekday() - weekday) % 7)


def build_world(db: DbSession) -> World:
    """The data described in the module docstring, committed."""
    today = dt.datetime.now(UTC).date()
    first_a = dt.datetime.combine(_weekday_before(today, 1) - dt.timedelta(weeks=10), dt.time(9, 30))
    first_b = dt.datetime.combine(_weekday_before(today, 3) - dt.timedelta(weeks=10), dt.time(15, 0))
    cycle = {
        "cycle_start": first_a.date() - dt.timedelta(days=14),
        "cycle_end": today + dt.timedelta(weeks=45),
    }
    centre = factories.centre(db)
    factories.deployment(db, centre)
    coordinator = factories.user(db, "coordinator", centre, language="en")
    facilitator = factories.user(db, "facilitator", centre, language="de")
    group_a = factories.group(db, centre, name="Sonnenblumen", facilitators=[facilitator], **cycle)
    group_b = factories.group(db, centre, name="Regenbogen", **cycle)
    group_c = factories.group(db, centre, name="Other group", **cycle)
    series_a = factories.scheduled_series(
        db, group_a, coordinator, first_start_local=first_a, until=first_a.date() + dt.timedelta(weeks=39),
        rrule="FREQ=WEEKLY;BYDAY=TU",
    )  # fmt: skip
    series_b = factories.scheduled_series(
        db, group_b, coordinator, first_start_local=first_b, until=first_b.date() + dt.timedelta(weeks=39),
        rrule="FREQ=WEEKLY;BYDAY=TH", duration_minutes=120, title="Elterncafé",
    )  # fmt: skip
    factories.scheduled_series(
        db, group_c, coordinator, first_start_local=first_a, until=first_a.date() + dt.timedelta(weeks=9)
    )
    # A one-off session of group B (no series), in two weeks.
    factories.session(
        db, group_b, starts_at=dt.datetime.combine(today + dt.timedelta(weeks=2), dt.time(17, 0), tzinfo=UTC)
    )
    parent = factories.parent(
        db, centre, groups=[group_a, group_b], display_name="Ayşe Yılmaz", language="tr"
    )
    _, parent_secret = factories.feed_secret(db, parent=parent)
    _, facilitator_secret = factories.feed_secret(db, staff=facilitator)
    _, coordinator_secret = factories.feed_secret(db, staff=coordinator)
    db.commit()
    return World(
        centre, coordinator, facilitator, group_a, group_b, group_c, series_a, series_b,
        parent, parent_secret, facilitator_secret, coordinator_secret,
    )  # fmt: skip


@pytest.fixture
def world(db: DbSession) -> World:
    return build_world(db)


def expected_for(
    db: DbSession, group_ids: list[int], cutoffs: dict[int, dt.datetime] | None = None
) -> Counter[Instance]:
    """(UID, start, end, STATUS) of every session of the groups, straight from the tables."""
    cutoffs = cutoffs or {}
    rows = db.execute(
        select(m.Session, m.Series.uid)
        .outerjoin(m.Series, m.Series.id == m.Session.series_id)
        .where(m.Session.group_id.in_(group_ids))
        # Fresh values from the database, not what this session remembers of the rows.
        .execution_options(populate_existing=True)
    ).all()
    found: Counter[Instance] = Counter()
    for session, series_uid in rows:
        cutoff = cutoffs.get(session.group_id)
        if cutoff is not None and session.starts_at >= cutoff:
            continue
        uid = (
            series_uid
            if series_uid and session.recurrence_local
            else f"session-{session.id}@rucksack.example.org"
        )
        status = "CANCELLED" if session.status == "cancelled" else "CONFIRMED"
        found[(uid, session.starts_at, session.ends_at, status)] += 1
    # End the read transaction: on SQLite it holds the write lock the app needs (BEGIN IMMEDIATE).
    db.commit()
    return found


async def fetch(client: Any, path: str, **headers: str) -> tuple[Any, bytes]:
    response = await client.get(path, headers=headers)
    return response, await response.read()


def translated(language: str, message: str) -> str:
    """A text as the feed writes it for a reader of ``language`` (catalogs may or may not have it)."""
    with i18n.language_scope(language):
        return i18n.gettext(message)


def feed_path(secret: str) -> str:
    return f"/feeds/{secret}.ics"


def future_sessions(db: DbSession, group: m.Group, count: int) -> list[m.Session]:
    now = dt.datetime.now(UTC)
    found = list(
        db.scalars(
            select(m.Session)
            .where(m.Session.group_id == group.id, m.Session.starts_at > now + dt.timedelta(days=2))
            .order_by(m.Session.starts_at)
            .limit(count)
        )
    )
    db.commit()
    return found


# -- content ----------------------------------------------------------------------------------


async def test_parent_feed_holds_exactly_the_parents_sessions(client, db, world):
    actor = world.actor(db)
    moved, cancelled, themed = future_sessions(db, world.group_a, 3)
    local = moved.starts_at.astimezone(BERLIN).replace(tzinfo=None)
    scheduling.move_session(
        db, actor=actor, session_id=moved.id, new_start_local=local + dt.timedelta(days=2, hours=5)
    )
    scheduling.cancel_session(db, actor=actor, session_id=cancelled.id, reason="Krank; Ersatz folgt, bald")
    scheduling.edit_session(db, actor=actor, session_id=themed.id, theme="Sprache & Lesen")
    db.commit()

    response, body = await fetch(client, feed_path(world.parent_secret))
    assert response.status == 200
    expected = expected_for(db, [world.group_a.id, world.group_b.id])
    assert len(expected) > 80
    assert_parsers_agree(body, expected)

    calendar = icalendar.Calendar.from_ical(body)
    name = translated("tr", "Rucksack meetings")
    assert text_value(calendar, "X-WR-CALNAME") == text_value(calendar, "NAME") == name
    events = list(calendar.walk("VEVENT"))
    overrides = [e for e in events if "RECURRENCE-ID" in e]
    # Only the three changed sessions are overrides; the other weeks come from the two masters.
    assert len(overrides) == 3
    assert len(events) == 2 + 3 + 1
    by_status = {str(e["STATUS"]): e for e in overrides}
    summary = translated("tr", "Rucksack meeting: %(group)s") % {"group": "Sonnenblumen"}
    assert str(by_status["CANCELLED"]["SUMMARY"]) == translated("tr", "Cancelled:") + " " + summary
    assert "Krank; Ersatz folgt, bald" in str(by_status["CANCELLED"]["DESCRIPTION"])
    for event in events:
        url = str(event["URL"])
        # Join links lead through the feed secret to our join endpoint, never to a room or a token.
        assert url.startswith(f"https://rucksack.example.org/feeds/{world.parent_secret}/join/")
        assert url in str(event["DESCRIPTION"])
        assert str(event["LOCATION"]) == url
        assert "https://rucksack.example.org/tr/privacy" in str(event["DESCRIPTION"])
        assert "jwt" not in body.decode()
    masters = [e for e in events if "RRULE" in e]
    assert {str(e["URL"]).rsplit("/", 2)[-2:][0] for e in masters} == {"g"}
    assert all(str(e["URL"]).split("/join/")[1].startswith("s/") for e in overrides)
    # The series title is in the description of its master.
    assert any("Elterncafé" in str(e["DESCRIPTION"]) for e in masters)
    assert "Sprache & Lesen" in body.decode().replace("\\", "")


async def test_staff_feeds_hold_their_scope_and_no_parent_data(client, db, world):
    _, facilitator_body = await fetch(client, feed_path(world.facilitator_secret))
    assert_parsers_agree(facilitator_body, expected_for(db, [world.group_a.id]))
    _, coordinator_body = await fetch(client, feed_path(world.coordinator_secret))
    all_groups = [world.group_a.id, world.group_b.id, world.group_c.id]
    assert_parsers_agree(coordinator_body, expected_for(db, all_groups))
    staff = ((facilitator_body, "/facilitator/sessions/", "de"), (coordinator_body, "/sessions/", "en"))
    for body, link, language in staff:
        text = body.decode().replace("\r\n ", "")
        assert world.parent.display_name not in text
        assert "/p/" not in text
        assert "/join/" not in text
        assert "/calendar/groups/" in text
        # Sessions that differ from their series (the one-off here) link to their own page.
        assert link in text or body is facilitator_body
        calendar = icalendar.Calendar.from_ical(body)
        assert text_value(calendar, "X-WR-CALNAME") == translated(language, "Rucksack sessions")

    # A coordinator's feed for chosen groups.
    _, chosen_secret = factories.feed_secret(db, staff=world.coordinator, group_ids=[world.group_b.id])
    db.execute(
        update(m.AccessSecret)
        .where(m.AccessSecret.secret_hash != hash_secret(chosen_secret))
        .where(m.AccessSecret.staff_user_id == world.coordinator.id)
        .values(revoked_at=dt.datetime.now(UTC))
    )
    db.commit()
    _, chosen_body = await fetch(client, feed_path(chosen_secret))
    assert_parsers_agree(chosen_body, expected_for(db, [world.group_b.id]))


async def test_a_moved_session_shows_at_its_new_time_only_once(client, db, world):
    actor = world.actor(db)
    [session] = future_sessions(db, world.group_b, 1)
    local = session.starts_at.astimezone(BERLIN).replace(tzinfo=None)
    scheduling.move_session(
        db, actor=actor, session_id=session.id, new_start_local=local - dt.timedelta(hours=3)
    )
    db.commit()
    _, body = await fetch(client, feed_path(world.parent_secret))
    starts = [start for uid, start, _, _ in expand(body) if uid == world.series_b.uid]
    db.refresh(session)
    assert session.starts_at in starts
    assert session.starts_at + dt.timedelta(hours=3) not in starts


async def test_a_parent_who_leaves_a_group_stops_seeing_its_future_sessions(client, db, world):
    _, before = await fetch(client, feed_path(world.parent_secret))
    assert world.series_a.uid in {uid for uid, *_ in expand(before)}
    groups.leave_group(db, actor=world.actor(db), group_id=world.group_a.id, parent_id=world.parent.id)
    db.commit()
    left_at = db.scalar(
        select(m.Enrolment.left_at).where(
            m.Enrolment.parent_id == world.parent.id, m.Enrolment.group_id == world.group_a.id
        )
    )
    assert left_at is not None
    db.commit()
    _, after = await fetch(client, feed_path(world.parent_secret))
    expected = expected_for(db, [world.group_a.id, world.group_b.id], {world.group_a.id: left_at})
    assert_parsers_agree(after, expected)
    kept = [start for uid, start, _, _ in expand(after) if uid == world.series_a.uid]
    # The ten weeks before leaving stay (what the parent took part in), nothing later.
    assert 9 <= len(kept) <= 11
    assert max(kept) < left_at
    # Re-enrolling brings the group's sessions back.
    groups.enrol_parent(db, actor=world.actor(db), group_id=world.group_a.id, parent_id=world.parent.id)
    db.commit()
    _, again = await fetch(client, feed_path(world.parent_secret))
    assert_parsers_agree(again, expected_for(db, [world.group_a.id, world.group_b.id]))


async def test_a_parent_who_re_joins_does_not_see_the_sessions_of_the_time_away(client, db, world):
    groups.leave_group(db, actor=world.actor(db), group_id=world.group_a.id, parent_id=world.parent.id)
    enrolment = db.scalar(
        select(m.Enrolment).where(
            m.Enrolment.parent_id == world.parent.id, m.Enrolment.group_id == world.group_a.id
        )
    )
    # As if she had left three weeks ago; she comes back today.
    left = enrolment.left_at - dt.timedelta(weeks=3)
    enrolment.left_at = left
    db.commit()
    groups.enrol_parent(db, actor=world.actor(db), group_id=world.group_a.id, parent_id=world.parent.id)
    db.commit()
    back = db.scalar(select(m.EnrolmentBreak.rejoined_at))
    db.commit()
    _, body = await fetch(client, feed_path(world.parent_secret))
    expected = expected_for(db, [world.group_a.id, world.group_b.id])
    away = Counter({i: n for i, n in expected_for(db, [world.group_a.id]).items() if left <= i[1] < back})
    assert 2 <= sum(away.values()) <= 4  # three weeks of a weekly group
    # The rule's instants without a session the parent keeps become EXDATEs: both parsers agree.
    assert_parsers_agree(body, expected - away)


HOSTILE = 'Ж;ع,\\\r\n😀\u200f\x00\x07\u2028:"^\t e\u0301 👩‍👧‍👦 \u202e'


def _hostile(length: int, backend: str) -> str:
    # PostgreSQL refuses NUL in text (the driver raises); every other control character is stored.
    text = HOSTILE if backend == "sqlite" else HOSTILE.replace("\x00", "")
    return (text * (length // len(text) + 1))[:length]


def _as_read(text: str) -> str:
    """What a reader sees: line breaks as one LF, control characters gone, everything else kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    return text.replace("\x00", "").replace("\x07", "")


async def test_hostile_names_and_titles_give_valid_escaped_feeds(client, db, world, backend):
    # Written straight into the rows: the feed must cope with whatever the database holds, even
    # text that the use cases would have cleaned. SQLite keeps any length; PostgreSQL's columns
    # cap it, so there each text fills its column.
    long = 2000 if backend == "sqlite" else None
    name, title, theme, reason = (_hostile(long or n, backend) for n in (200, 200, 300, 500))
    [session, other] = future_sessions(db, world.group_a, 2)
    db.execute(
        update(m.Group)
        .where(m.Group.id == world.group_a.id)
        .values(name=name, schedule_version=9, site_name=name)
    )
    db.execute(update(m.Series).where(m.Series.id == world.series_a.id).values(title=title))
    db.execute(update(m.Session).where(m.Session.id == session.id).values(theme=theme, sequence=5))
    db.execute(
        update(m.Session)
        .where(m.Session.id == other.id)
        .values(status="cancelled", cancel_reason=reason, sequence=5)
    )
    db.commit()
    readers = (
        (world.parent_secret, "tr"),
        (world.facilitator_secret, "de"),
        (world.coordinator_secret, "en"),
    )
    for secret, language in readers:
        response, body = await fetch(client, feed_path(secret))
        assert response.status == 200
        assert_lint_clean(body)
        calendar = icalendar.Calendar.from_ical(body)
        summaries = {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
        clean_name = _as_read(name)
        summary = translated(language, "Rucksack meeting: %(group)s") % {"group": clean_name}
        assert summary in summaries
        assert translated(language, "Cancelled:") + " " + summary in summaries
        descriptions = "".join(str(e["DESCRIPTION"]) for e in calendar.walk("VEVENT"))
        assert _as_read(theme) in descriptions
        assert _as_read(reason) in descriptions
    assert_parsers_agree(body, expected_for(db, [world.group_a.id, world.group_b.id, world.group_c.id]))


async def test_single_session_downloads(client, db, world):
    [session] = future_sessions(db, world.group_a, 1)
    response, body = await fetch(client, f"/feeds/{world.parent_secret}/sessions/{session.id}.ics")
    assert response.status == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert_lint_clean(body)
    local = session.recurrence_local
    assert local is not None
    expected = Counter(
        {(f"{local:%Y%m%dT%H%M%S}-{world.series_a.uid}", session.starts_at, session.ends_at, "CONFIRMED"): 1}
    )
    assert_parsers_agree(body, expected)
    assert f"/feeds/{world.parent_secret}/join/s/{session.id}" in body.decode().replace("\r\n ", "")
    # A session outside the parent's groups answers like an unknown secret.
    other = db.scalars(select(m.Session).where(m.Session.group_id == world.group_c.id)).first()
    assert other is not None
    db.commit()
    refused, refused_body = await fetch(client, f"/feeds/{world.parent_secret}/sessions/{other.id}.ics")
    unknown, unknown_body = await fetch(client, f"/feeds/{'A' * 32}/sessions/{session.id}.ics")
    assert refused.status == unknown.status == 404
    assert refused_body == unknown_body

    # Staff download it logged in, with the link to the session's page.
    from tests.support import login

    await login(client, world.facilitator.email)
    response, body = await fetch(client, f"/sessions/{session.id}.ics")
    assert response.status == 200
    assert_lint_clean(body)
    assert f"/facilitator/sessions/{session.id}" in body.decode().replace("\r\n ", "")
    foreign_staff, _ = await fetch(client, f"/sessions/{other.id}.ics")
    assert foreign_staff.status == 404


# -- HTTP -------------------------------------------------------------------------------------


async def test_200_then_304_by_etag_and_by_date(client, world):
    path = feed_path(world.parent_secret)
    first, body = await fetch(client, path, **{"Accept-Encoding": "identity"})
    assert first.status == 200
    assert first.headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert first.headers["Content-Disposition"] == 'inline; filename="rucksack.ics"'
    assert first.headers["Cache-Control"].startswith("private, max-age=")
    assert "Content-Encoding" not in first.headers
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"')

    by_tag, empty = await fetch(client, path, **{"If-None-Match": etag})
    assert (by_tag.status, empty) == (304, b"")
    by_date, empty = await fetch(client, path, **{"If-Modified-Since": modified})
    assert (by_date.status, empty) == (304, b"")
    # Without the ".ics" suffix it is the same feed.
    plain, _ = await fetch(client, f"/feeds/{world.parent_secret}", **{"If-None-Match": etag})
    assert plain.status == 304
    older = (dt.datetime.now(UTC) - dt.timedelta(days=400)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    stale, again = await fetch(client, path, **{"If-Modified-Since": older, "Accept-Encoding": "identity"})
    assert (stale.status, again) == (200, body)
    other_tag, _ = await fetch(client, path, **{"If-None-Match": '"nope"', "If-Modified-Since": modified})
    assert other_tag.status == 200  # If-None-Match wins over If-Modified-Since
    head = await client.head(path)
    assert head.status == 200
    assert head.headers["ETag"] == first.headers["ETag"].removesuffix('"') + '-gzip"'


async def test_gzip_when_asked(client, world):
    path = feed_path(world.parent_secret)
    _, plain = await fetch(client, path, **{"Accept-Encoding": "identity"})
    response = await client.get(path, headers={"Accept-Encoding": "gzip"}, auto_decompress=False)
    packed = await response.read()
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert gzip.decompress(packed) == plain
    assert len(packed) < len(plain) / 3
    # Both encodings' tags are current.
    not_modified, _ = await fetch(client, path, **{"If-None-Match": response.headers["ETag"]})
    assert not_modified.status == 304


async def test_a_change_changes_etag_and_content(client, db, world):
    path = feed_path(world.parent_secret)
    first, body = await fetch(client, path)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    [session] = future_sessions(db, world.group_a, 1)
    scheduling.cancel_session(db, actor=world.actor(db), session_id=session.id)
    db.commit()
    by_tag, changed = await fetch(client, path, **{"If-None-Match": etag})
    assert by_tag.status == 200
    assert by_tag.headers["ETag"] != etag
    assert changed != body
    assert "STATUS:CANCELLED" in changed.decode()
    by_date, _ = await fetch(client, path, **{"If-Modified-Since": modified})
    assert by_date.status == 200
    assert by_date.headers["Last-Modified"] != modified
    assert_parsers_agree(changed, expected_for(db, [world.group_a.id, world.group_b.id]))


async def test_an_unchanged_feed_is_not_rendered_again(client, db, world):
    state = client.app[CACHE][FEEDS]
    path = feed_path(world.parent_secret)
    etags = set()
    for headers in ({}, {"Accept-Encoding": "identity"}, {}, {"If-None-Match": '"x"'}):
        response, _ = await fetch(client, path, **headers)
        etags.add(response.headers["ETag"].removesuffix('-gzip"').rstrip('"'))
    assert state.cache.renders == 1
    assert len(etags) == 1
    # Polls that see the same data version never render; a change renders once.
    [session] = future_sessions(db, world.group_b, 1)
    scheduling.edit_session(db, actor=world.actor(db), session_id=session.id, theme="Spielen")
    db.commit()
    for _ in range(3):
        await fetch(client, path)
    assert state.cache.renders == 2
    # A parent's new language is a new version too.
    db.execute(update(m.Parent).where(m.Parent.id == world.parent.id).values(language="ar"))
    db.commit()
    _, body = await fetch(client, path)
    assert state.cache.renders == 3
    assert "/ar/privacy" in body.decode().replace("\r\n ", "")


async def test_rendering_is_deterministic_across_processes(aiohttp_client, client, settings, jobs, world):
    from orchestrator.web.app import create_app

    first, body = await fetch(client, feed_path(world.parent_secret))
    second_app = await aiohttp_client(create_app(settings, jobs=jobs))
    second, again = await fetch(second_app, feed_path(world.parent_secret))
    assert first.headers["ETag"] == second.headers["ETag"]
    assert first.headers["Last-Modified"] == second.headers["Last-Modified"]
    assert body == again


async def test_revoked_unknown_and_malformed_secrets_answer_the_same(client, db, world):
    revoked_row, revoked = factories.feed_secret(db, parent=world.parent)
    revoked_row.revoked_at = dt.datetime.now(UTC)
    erased = factories.parent(db, world.centre, groups=[world.group_a])
    _, erased_secret = factories.feed_secret(db, parent=erased)
    erased.erased_at = dt.datetime.now(UTC)
    inactive = factories.user(db, "facilitator", world.centre)
    inactive.active = False
    _, inactive_secret = factories.feed_secret(db, staff=inactive)
    admin = factories.user(db, "admin")
    _, admin_secret = factories.feed_secret(db, staff=admin)
    # A personal-page secret is no feed secret.
    _, personal = factories.access_secret(db, parent=world.parent)
    db.commit()
    answers = []
    for secret in (
        revoked,
        "A" * 32,
        "not-a-secret",
        "x" * 500,
        erased_secret,
        inactive_secret,
        admin_secret,
        personal,
    ):
        for path in (f"/feeds/{secret}.ics", f"/feeds/{secret}"):
            response, body = await fetch(client, path)
            answers.append(
                (response.status, body, response.headers["Content-Type"], response.headers["Cache-Control"])
            )
    assert {a[0] for a in answers} == {404}
    assert len(set(answers)) == 1


async def test_rate_limit_per_secret(aiohttp_client, settings, jobs, world):
    from orchestrator.settings import FeedSettings
    from orchestrator.web.app import create_app

    client = await aiohttp_client(
        create_app(settings.replace(feeds=FeedSettings(rate_limit_per_minute=3)), jobs=jobs)
    )
    statuses = [(await client.get(feed_path(world.parent_secret))).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await client.get(feed_path(world.parent_secret))
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Another secret has its own window; unknown secrets are limited like known ones.
    assert (await client.get(feed_path(world.facilitator_secret))).status == 200
    unknown = [(await client.get(feed_path("B" * 32))).status for _ in range(4)]
    assert unknown == [404, 404, 404, 429]
