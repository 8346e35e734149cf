"""The coordinator's set-up through the pages and the API, on both databases.

Pages are driven like a person would (log in, post the form with its CSRF token, follow the
redirect) and the database is checked afterwards; the API like a script (bearer token). The CSV
import has its own module (``test_groups_import.py``); who may do what is the access matrix's
job (``test_access_matrix.py``).
"""

from __future__ import annotations

import datetime as dt
import re
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.accounts import services as accounts
from tests import factories
from tests.support import login

SIGNING_SECRET = "signing-secret-that-must-never-leak-0123456789"
WEBHOOK_SECRET = "webhook-secret-that-must-never-leak-42"


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def world(db):
    centre = factories.centre(db)
    coordinator = factories.quick_user(db, "coordinator", centre)
    facilitator = factories.quick_user(db, "facilitator", centre)
    deployment = factories.deployment(db, centre)
    group = factories.group(db, centre, facilitators=[facilitator], deployment_id=deployment.id)
    parent = factories.parent(db, centre, groups=[group], display_name="Ayşe")
    token = api_token(db, coordinator)
    db.commit()
    return SimpleNamespace(
        centre=centre,
        coordinator=coordinator,
        facilitator=facilitator,
        deployment=deployment,
        group=group,
        parent=parent,
        token=token,
        auth={"Authorization": f"Bearer {token}"},
    )


# The test's own session ends each read with a commit: on SQLite every transaction starts with
# BEGIN IMMEDIATE, and an open one would lock the app out. ``populate_existing`` reloads rows the
# session already holds, without expiring (and so lazily reloading) everything else.


def api_token(db, user, scopes=("read", "write")) -> str:
    _, token = accounts.create_api_token(db, user_id=user.id, name="test script", scopes=list(scopes))
    return token


def count(db, model) -> int:
    return first(db, select(func.count()).select_from(model))


def fresh(db, model, record_id):
    row = db.get(model, record_id, populate_existing=True)
    db.commit()
    return row


def first(db, statement):
    value = db.scalar(statement.execution_options(populate_existing=True))
    db.commit()
    return value


def every(db, statement) -> list:
    values = list(db.scalars(statement.execution_options(populate_existing=True)))
    db.commit()
    return values


def redirect_id(resp, prefix: str) -> int:
    assert resp.status == 303, resp.status
    found = re.match(rf"{prefix}/(\d+)", resp.headers["Location"])
    assert found, resp.headers["Location"]
    return int(found.group(1))


# --- pages ---------------------------------------------------------------------------------------


async def test_group_is_created_edited_and_archived_through_the_pages(client, db, world):
    csrf = await login(client, world.coordinator.email)
    page = await client.get("/groups")
    assert page.status == 200
    assert world.group.name in await page.text()

    resp = await client.post(
        "/groups",
        data=[
            ("csrf_token", csrf),
            ("name", "Mittwochsgruppe"),
            ("site_name", "KiTa Regenbogen"),
            ("languages", "tr, KU,tr"),
            ("deployment_id", str(world.deployment.id)),
            ("cycle_start", "2026-09-01"),
            ("cycle_end", "2027-06-30"),
            ("facilitator_ids", str(world.facilitator.id)),
        ],
        allow_redirects=False,
    )
    group_id = redirect_id(resp, "/groups")
    group = fresh(db, m.Group, group_id)
    assert (group.name, group.site_name, group.languages) == (
        "Mittwochsgruppe",
        "KiTa Regenbogen",
        ["tr", "ku"],
    )
    assert [f.id for f in group.facilitators] == [world.facilitator.id]
    detail = await client.get(f"/groups/{group_id}")
    text = await detail.text()
    assert "Mittwochsgruppe" in text
    assert f"/groups/{group_id}/schedule" in text
    assert "Kurdish" in text or "Kurdisch" in text

    resp = await client.post(
        f"/groups/{group_id}/edit",
        data=[
            ("csrf_token", csrf),
            ("name", "Mittwochsgruppe B"),
            ("site_name", ""),
            ("languages", "ar"),
            ("deployment_id", ""),
            ("cycle_start", "2026-09-01"),
            ("cycle_end", "2027-07-15"),
        ],
        allow_redirects=False,
    )
    assert resp.status == 303
    group = fresh(db, m.Group, group_id)
    assert (group.name, group.languages, group.deployment_id, group.facilitators) == (
        "Mittwochsgruppe B",
        ["ar"],
        None,
        [],
    )
    assert group.cycle_end == dt.date(2027, 7, 15)
    assert group.schedule_version == 2  # the name is in calendar feeds

    resp = await client.post(f"/groups/{group_id}/archive", data={"csrf_token": csrf, "archived": "1"})
    assert resp.status == 200
    assert fresh(db, m.Group, group_id).archived
    assert "Mittwochsgruppe B" not in await (await client.get("/groups")).text()
    assert "Mittwochsgruppe B" in await (await client.get("/groups?archived=1")).text()


async def test_a_wrong_group_form_is_shown_again_with_the_problem_and_saves_nothing(client, db, world):
    csrf = await login(client, world.coordinator.email)
    before = count(db, m.Group)
    resp = await client.post(
        "/groups",
        data={
            "csrf_token": csrf,
            "name": "Kaputt",
            "languages": "tr",
            "cycle_start": "2027-06-30",
            "cycle_end": "2026-09-01",
        },
    )
    assert resp.status == 422
    text = await resp.text()
    assert 'id="f-cycle_end"' in text
    assert re.search(r'id="f-cycle_end"[^>]*aria-invalid="true"', text)
    assert 'value="Kaputt"' in text  # what was typed is kept
    resp = await client.post(
        "/groups",
        data={
            "csrf_token": csrf,
            "name": "Kaputt",
            "languages": "xx",
            "cycle_start": "2026-09-01",
            "cycle_end": "2027-06-30",
        },
    )
    assert resp.status == 422
    assert re.search(r'id="f-languages"[^>]*aria-invalid="true"', await resp.text())
    assert count(db, m.Group) == before


async def test_parent_is_created_with_consent_edited_and_moved_through_the_pages(client, db, world):
    csrf = await login(client, world.coordinator.email)
    resp = await client.post(
        "/parents/new",
        data={
            "csrf_token": csrf,
            "display_name": "Olena",
            "language": "uk",
            "phone": "0171 / 123 45 67",
            "sms_consent": "1",
            "email": "",
            "group_ids": str(world.group.id),
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"].startswith(f"/groups/{world.group.id}")
    parent = first(db, select(m.Parent).where(m.Parent.display_name == "Olena"))
    assert parent.phone == "+491711234567"
    assert parent.sms_consent_at is not None
    assert parent.email is None
    assert parent.email_consent_at is None
    assert parent.pseudonym.startswith("p-")
    enrolment = first(db, select(m.Enrolment).where(m.Enrolment.parent_id == parent.id))
    assert enrolment.group_id == world.group.id
    assert enrolment.left_at is None
    page = await client.get(f"/parents/{parent.id}")
    assert "Olena" in await page.text()

    # Withdrawing the SMS consent erases the number: no purpose, no data.
    resp = await client.post(
        f"/parents/{parent.id}",
        data={"csrf_token": csrf, "display_name": "Olena K.", "language": "uk", "phone": "0171 1234567"},
    )
    assert resp.status == 422  # the number without consent is refused ...
    resp = await client.post(
        f"/parents/{parent.id}", data={"csrf_token": csrf, "display_name": "Olena K.", "language": "uk"}
    )
    assert resp.status == 200  # ... and without the number the change is saved
    parent = fresh(db, m.Parent, parent.id)
    assert (parent.display_name, parent.phone, parent.sms_consent_at) == ("Olena K.", None, None)

    resp = await client.post(
        f"/groups/{world.group.id}/members/{parent.id}/leave",
        data={"csrf_token": csrf, "next": f"/parents/{parent.id}"},
        allow_redirects=False,
    )
    assert resp.headers["Location"].startswith(f"/parents/{parent.id}")
    enrolment = fresh(db, m.Enrolment, enrolment.id)
    assert enrolment.left_at is not None
    resp = await client.post(
        f"/parents/{parent.id}/enrolments", data={"csrf_token": csrf, "group_id": str(world.group.id)}
    )
    assert resp.status == 200
    assert fresh(db, m.Enrolment, enrolment.id).left_at is None


async def test_contact_without_consent_is_refused_and_nothing_is_stored(client, db, world):
    csrf = await login(client, world.coordinator.email)
    before = count(db, m.Parent)
    resp = await client.post(
        "/parents/new",
        data={"csrf_token": csrf, "display_name": "Mariam", "language": "fa", "email": "mariam@example.org"},
    )
    assert resp.status == 422
    assert re.search(r'id="f-email_consent"[^>]*aria-invalid="true"', await resp.text())
    assert count(db, m.Parent) == before


async def test_two_current_members_of_a_group_cannot_share_a_name(client, db, world):
    csrf = await login(client, world.coordinator.email)
    resp = await client.post(
        "/parents/new",
        data={"csrf_token": csrf, "display_name": "AYŞE", "language": "tr", "group_ids": str(world.group.id)},
    )
    assert resp.status == 409
    assert "Ayşe" not in [p.display_name for p in every(db, select(m.Parent)) if p.id != world.parent.id]


async def test_staff_member_is_created_with_a_generated_password_and_deactivated(client, db, world):
    csrf = await login(client, world.coordinator.email)
    resp = await client.post(
        "/staff",
        data={
            "csrf_token": csrf,
            "display_name": "Fatma",
            "email": "Fatma@Example.org",
            "role": "facilitator",
            "language": "de",
            "password": "",
        },
    )
    assert resp.status == 200
    text = await resp.text()
    password = re.search(r'<code id="initial-password">([^<]+)</code>', text).group(1)
    user = first(db, select(m.StaffUser).where(m.StaffUser.email == "fatma@example.org"))
    assert (user.role, user.centre_id, user.active) == ("facilitator", world.centre.id, True)
    assert password not in user.password_hash

    # The generated password works.
    client.session.cookie_jar.clear()
    await login(client, "fatma@example.org", password)
    client.session.cookie_jar.clear()

    csrf = await login(client, world.coordinator.email)
    resp = await client.post(
        f"/staff/{user.id}", data={"csrf_token": csrf, "active": "0"}, allow_redirects=False
    )
    assert resp.status == 303
    assert fresh(db, m.StaffUser, user.id).active is False
    # A coordinator may not hand out the admin role, not even by editing the form.
    resp = await client.post(f"/staff/{user.id}", data={"csrf_token": csrf, "role": "admin"})
    assert resp.status == 403
    assert fresh(db, m.StaffUser, user.id).role == "facilitator"

    client.session.cookie_jar.clear()
    page = await client.get("/login")
    token = re.search(r'name="login_csrf" value="([^"]+)"', await page.text()).group(1)
    resp = await client.post(
        "/login", data={"email": "fatma@example.org", "password": password, "login_csrf": token}
    )
    assert resp.status == 401  # deactivated accounts cannot log in


async def test_centre_settings_are_saved_and_checked(client, db, world):
    csrf = await login(client, world.coordinator.email)
    form = {
        "csrf_token": csrf,
        "name": "KI Musterstadt",
        "municipality": "Kreis Muster",
        "default_language": "tr",
        "reminder_offsets": "60, 1440, 60",
        "present_min_minutes": "40",
        "present_min_share": "60",
        "late_after_minutes": "15",
        "early_leave_minutes": "25",
        "regular_threshold_percent": "75",
        "raw_event_retention_days": "14",
        "contact_grace_days": "60",
        "attendance_retention_days": "1000",
    }
    resp = await client.post("/centre", data=form, allow_redirects=False)
    assert resp.status == 303
    centre = fresh(db, m.Centre, world.centre.id)
    assert (centre.name, centre.default_language, centre.reminder_offsets) == (
        "KI Musterstadt",
        "tr",
        [1440, 60],
    )
    assert (centre.present_min_share, centre.regular_threshold_percent) == (60, 75)
    assert (centre.late_after_minutes, centre.early_leave_minutes) == (15, 25)

    resp = await client.post("/centre", data={**form, "raw_event_retention_days": "90", "name": "Anders"})
    assert resp.status == 422
    assert re.search(r'id="f-raw_event_retention_days"[^>]*aria-invalid="true"', await resp.text())
    assert fresh(db, m.Centre, world.centre.id).name == "KI Musterstadt"


async def test_deployment_pages_keep_secrets_write_only(client, db, world, rsa_pem):
    csrf = await login(client, world.coordinator.email)
    resp = await client.post(
        "/deployments/new",
        data={
            "csrf_token": csrf,
            "kind": "self_hosted",
            "name": "Meet KI",
            "slug": "meet-ki",
            "domain": "Meet.KI-Muster.de",
            "base_url": "",
            "app_id": "rucksack",
            "algorithm": "RS256",
            "key_id": "rucksack-2026",
            "signing_secret": rsa_pem,
            "webhook_secret": WEBHOOK_SECRET,
        },
        allow_redirects=False,
    )
    assert resp.status == 303, await resp.text()
    row = first(db, select(m.JitsiDeployment).where(m.JitsiDeployment.slug == "meet-ki"))
    assert (row.domain, row.base_url) == ("meet.ki-muster.de", "https://meet.ki-muster.de")
    assert row.signing_secret == rsa_pem.strip()

    pem_body = rsa_pem.splitlines()[1]
    for path in ("/deployments", f"/deployments/{row.id}"):
        text = await (await client.get(path)).text()
        assert pem_body not in text
        assert WEBHOOK_SECRET not in text
        assert "set" in text

    # Saving the edit form with empty secret fields keeps both secrets.
    resp = await client.post(
        f"/deployments/{row.id}",
        data={
            "csrf_token": csrf,
            "kind": "self_hosted",
            "name": "Meet KI 2",
            "slug": "meet-ki",
            "domain": "meet.ki-muster.de",
            "base_url": "https://meet.ki-muster.de",
            "app_id": "rucksack",
            "algorithm": "RS256",
            "key_id": "rucksack-2026",
            "signing_secret": "",
            "webhook_secret": "",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    row = fresh(db, m.JitsiDeployment, row.id)
    assert (row.name, row.signing_secret, row.webhook_secret) == (
        "Meet KI 2",
        rsa_pem.strip(),
        WEBHOOK_SECRET,
    )

    # A broken key is refused, and the answer does not echo what was sent.
    resp = await client.post(
        f"/deployments/{row.id}",
        data={
            "csrf_token": csrf,
            "kind": "self_hosted",
            "name": "Meet KI 2",
            "slug": "meet-ki",
            "domain": "meet.ki-muster.de",
            "app_id": "rucksack",
            "algorithm": "RS256",
            "key_id": "k",
            "signing_secret": "not-a-key-" + SIGNING_SECRET,
        },
    )
    assert resp.status == 422
    assert SIGNING_SECRET not in await resp.text()

    resp = await client.post(f"/deployments/{world.deployment.id}/delete", data={"csrf_token": csrf})
    assert resp.status == 409  # the world's group meets on it
    resp = await client.post(
        f"/deployments/{row.id}/delete", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert resp.status == 303
    assert fresh(db, m.JitsiDeployment, row.id) is None


async def test_admin_creates_a_centre_and_its_first_coordinator(client, db):
    admin = factories.quick_user(db, "admin")
    db.commit()
    csrf = await login(client, admin.email)
    assert (await client.get("/admin")).status == 200
    resp = await client.post(
        "/admin/centres",
        data={"csrf_token": csrf, "name": "KI Neustadt", "slug": "ki-neustadt", "municipality": "Neustadt"},
        allow_redirects=False,
    )
    assert resp.status == 303
    centre = first(db, select(m.Centre).where(m.Centre.slug == "ki-neustadt"))
    assert resp.headers["Location"].startswith(f"/staff?centre={centre.id}")
    resp = await client.post(
        "/staff",
        data={
            "csrf_token": csrf,
            "centre_id": str(centre.id),
            "display_name": "Koordination",
            "role": "coordinator",
            "email": "ko@neustadt.example",
            "password": "lang genug und geheim",
        },
        allow_redirects=False,
    )
    assert resp.status == 303
    user = first(db, select(m.StaffUser).where(m.StaffUser.email == "ko@neustadt.example"))
    assert (user.role, user.centre_id) == ("coordinator", centre.id)
    # The same slug again is a conflict shown on the form.
    resp = await client.post(
        "/admin/centres", data={"csrf_token": csrf, "name": "Zwei", "slug": "ki-neustadt"}
    )
    assert resp.status == 409
    assert 'aria-invalid="true"' in await resp.text()


async def test_facilitator_sees_their_group_read_only(client, db, world):
    other = factories.group(db, world.centre, name="Fremde Gruppe")
    db.commit()
    await login(client, world.facilitator.email)
    text = await (await client.get("/groups")).text()
    assert world.group.name in text
    assert "Fremde Gruppe" not in text
    assert "New group" not in text
    detail = await client.get(f"/groups/{world.group.id}")
    assert detail.status == 200
    text = await detail.text()
    assert "Ayşe" in text  # they lead the sessions: they see who is in the group
    assert f"/groups/{world.group.id}/edit" not in text
    assert "/leave" not in text
    assert (await client.get(f"/groups/{other.id}")).status == 404
    assert (await client.get(f"/groups/{world.group.id}/edit")).status == 403
    assert (await client.get("/parents")).status == 403


# --- API -----------------------------------------------------------------------------------------


async def test_api_group_life_cycle(client, db, world):
    body = {
        "centre_id": world.centre.id,
        "name": "API-Gruppe",
        "languages": ["ti", "AR"],
        "cycle_start": "2026-09-01",
        "cycle_end": "2027-06-30",
        "facilitator_ids": [world.facilitator.id],
        "deployment_id": world.deployment.id,
    }
    resp = await client.post("/api/v1/groups", json=body, headers=world.auth)
    assert resp.status == 201, await resp.text()
    group = await resp.json()
    assert group["languages"] == ["ti", "ar"]
    assert group["facilitators"][0]["id"] == world.facilitator.id
    assert group["schedule_path"] == f"/groups/{group['id']}/schedule"

    resp = await client.patch(
        f"/api/v1/groups/{group['id']}",
        json={"name": "API-Gruppe 2", "deployment_id": None},
        headers=world.auth,
    )
    assert resp.status == 200
    assert (await resp.json())["name"] == "API-Gruppe 2"
    assert fresh(db, m.Group, group["id"]).deployment_id is None

    resp = await client.patch(
        f"/api/v1/groups/{group['id']}", json={"cycle_end": "2026-01-01"}, headers=world.auth
    )
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "cycle_end"

    resp = await client.patch(f"/api/v1/groups/{group['id']}", json={"archived": True}, headers=world.auth)
    assert (await resp.json())["archived"] is True
    listed = await (await client.get("/api/v1/groups", headers=world.auth)).json()
    assert [g["id"] for g in listed["items"]] == [world.group.id]
    listed = await (await client.get("/api/v1/groups?include_archived=true", headers=world.auth)).json()
    assert {g["id"] for g in listed["items"]} == {world.group.id, group["id"]}
    one = await (await client.get(f"/api/v1/groups/{world.group.id}", headers=world.auth)).json()
    assert one["members"] == 1


async def test_api_parents_enrolment_and_consent(client, db, world):
    other_group = factories.group(db, world.centre)
    db.commit()
    resp = await client.post(
        "/api/v1/parents",
        json={
            "centre_id": world.centre.id,
            "display_name": "Hana",
            "language": "ar",
            "email": "Hana@Example.ORG",
            "email_consent": True,
            "group_ids": [world.group.id],
        },
        headers=world.auth,
    )
    assert resp.status == 201, await resp.text()
    parent = await resp.json()
    assert parent["email"] == "Hana@example.org"
    assert parent["email_consent_at"] is not None
    assert [g["id"] for g in parent["groups"]] == [world.group.id]
    assert "pseudonym" not in parent

    listed = await (await client.get(f"/api/v1/parents?group_id={world.group.id}", headers=world.auth)).json()
    assert {p["display_name"] for p in listed["items"]} == {"Ayşe", "Hana"}

    resp = await client.patch(
        f"/api/v1/parents/{parent['id']}", json={"email_consent": False}, headers=world.auth
    )
    assert resp.status == 200
    assert ((await resp.json())["email"], (await resp.json())["email_consent_at"]) == (None, None)

    url = f"/api/v1/groups/{other_group.id}/parents"
    assert (await client.post(url, json={"parent_id": parent["id"]}, headers=world.auth)).status == 201
    assert (await client.post(url, json={"parent_id": parent["id"]}, headers=world.auth)).status == 200
    left = await client.delete(f"{url}/{parent['id']}", headers=world.auth)
    assert left.status == 200
    assert (await left.json())["left_at"] is not None
    again = await client.post(url, json={"parent_id": parent["id"]}, headers=world.auth)
    assert again.status == 201
    assert (await again.json())["left_at"] is None
    assert count(db, m.Enrolment) == 3  # re-enrolling reuses the row

    resp = await client.post(
        url,
        json={"display_name": "Neu", "language": "ro", "phone": "+40 721 123 456", "sms_consent": True},
        headers=world.auth,
    )
    assert resp.status == 201
    member = await resp.json()
    assert member["display_name"] == "Neu"
    assert "phone" not in member
    members = await (await client.get(url, headers=world.auth)).json()
    assert [x["display_name"] for x in members["items"]] == ["Hana", "Neu"]
    detail = await (await client.get(f"/api/v1/parents/{member['parent_id']}", headers=world.auth)).json()
    assert detail["phone"] == "+40721123456"

    resp = await client.post(url, json={"parent_id": parent["id"], "language": "de"}, headers=world.auth)
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "language"


async def test_api_staff_accounts(client, db, world):
    url = f"/api/v1/centres/{world.centre.id}/staff"
    resp = await client.post(
        url, json={"email": "neu@example.org", "display_name": "Neu"}, headers=world.auth
    )
    assert resp.status == 201
    created = await resp.json()
    assert created["role"] == "facilitator"
    assert len(created["initial_password"]) >= 10
    assert "password_hash" not in created

    resp = await client.post(
        url, json={"email": "x@example.org", "display_name": "X", "role": "admin"}, headers=world.auth
    )
    assert resp.status == 403
    resp = await client.post(
        url, json={"email": "neu@example.org", "display_name": "Zwei"}, headers=world.auth
    )
    assert resp.status == 409
    assert (await resp.json())["error"]["field"] == "email"

    resp = await client.patch(
        f"/api/v1/staff/{created['id']}", json={"role": "coordinator"}, headers=world.auth
    )
    assert resp.status == 200
    assert (await resp.json())["role"] == "coordinator"
    resp = await client.patch(
        f"/api/v1/staff/{world.facilitator.id}", json={"role": "coordinator"}, headers=world.auth
    )
    assert resp.status == 409  # still leads a group
    resp = await client.patch(
        f"/api/v1/staff/{world.coordinator.id}", json={"active": False}, headers=world.auth
    )
    assert resp.status == 409  # nobody locks themselves out
    resp = await client.patch(f"/api/v1/staff/{created['id']}", json={"active": False}, headers=world.auth)
    assert (await resp.json())["active"] is False
    listed = await (await client.get(url, headers=world.auth)).json()
    assert listed["items"][-1]["id"] == created["id"]  # inactive accounts last


async def test_api_centres(client, db, world):
    admin = factories.quick_user(db, "admin")
    admin_token = api_token(db, admin)
    db.commit()
    as_admin = {"Authorization": f"Bearer {admin_token}"}
    resp = await client.post("/api/v1/centres", json={"name": "KI Süd", "slug": "ki-sued"}, headers=as_admin)
    assert resp.status == 201
    new_id = (await resp.json())["id"]
    listed = await (await client.get("/api/v1/centres", headers=as_admin)).json()
    assert {c["id"] for c in listed["items"]} == {world.centre.id, new_id}
    listed = await (await client.get("/api/v1/centres", headers=world.auth)).json()
    assert [c["id"] for c in listed["items"]] == [world.centre.id]

    url = f"/api/v1/centres/{world.centre.id}"
    resp = await client.patch(
        url, json={"reminder_offsets": [60, 2880], "present_min_share": 40}, headers=world.auth
    )
    assert resp.status == 200
    assert (await resp.json())["reminder_offsets"] == [2880, 60]
    for body, field in (
        ({"present_min_share": 101}, "present_min_share"),
        ({"raw_event_retention_days": 31}, "raw_event_retention_days"),
        ({"reminder_offsets": [1, 60]}, "reminder_offsets"),
        ({"default_language": "it"}, "default_language"),
        ({"name": None}, "name"),
        ({"name": "  "}, "name"),
    ):
        resp = await client.patch(url, json=body, headers=world.auth)
        assert resp.status == 422, body
        assert (await resp.json())["error"]["field"].startswith(field), body
    assert fresh(db, m.Centre, world.centre.id).present_min_share == 40


async def test_api_deployments_validate_and_never_return_secrets(client, db, world, rsa_pem):
    url = f"/api/v1/centres/{world.centre.id}/deployments"
    bodies = []

    async def call(method, path, body=None):
        resp = await client.request(method, path, json=body, headers=world.auth)
        text = await resp.text()
        bodies.append(text)
        return resp.status, (await resp.json() if text else None)

    status, jaas = await call(
        "POST",
        url,
        {
            "kind": "jaas",
            "slug": "jaas-ki",
            "name": "JaaS",
            "app_id": "vpaas-magic-cookie-0123456789abcdef",
            "algorithm": "RS256",
            "key_id": "vpaas-magic-cookie-0123456789abcdef/abc123",
            "signing_secret": rsa_pem,
            "webhook_secret": WEBHOOK_SECRET,
        },
    )
    assert status == 201
    assert (jaas["domain"], jaas["base_url"], jaas["key_id"]) == ("8x8.vc", "https://8x8.vc", "abc123")
    assert jaas["signing_secret_set"]
    assert jaas["webhook_secret_set"]
    assert "signing_secret" not in jaas
    assert "webhook_secret" not in jaas

    jaas_base = {
        "kind": "jaas",
        "slug": "j2",
        "name": "J",
        "app_id": "vpaas-magic-cookie-x",
        "algorithm": "RS256",
        "key_id": "k",
        "signing_secret": rsa_pem,
    }
    for change, field in (
        ({"algorithm": "HS256", "signing_secret": SIGNING_SECRET}, "algorithm"),
        ({"key_id": None}, "key_id"),
        ({"app_id": "my-app"}, "app_id"),
        ({"signing_secret": "-----BEGIN PRIVATE KEY-----\n" + SIGNING_SECRET}, "signing_secret"),
        ({"tenant": "t"}, "tenant"),
        ({"slug": "jaas-ki"}, "slug"),
    ):
        status, answer = await call("POST", url, {**jaas_base, **change})
        assert status in (409, 422), change
        assert answer["error"]["field"] == field, (change, answer)

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    status, answer = await call("POST", url, {**jaas_base, "signing_secret": ec_pem})
    assert (status, answer["error"]["field"]) == (422, "signing_secret")

    status, hs = await call(
        "POST",
        url,
        {
            "slug": "meet-hs",
            "name": "HS",
            "domain": "meet.example.org",
            "app_id": "rucksack",
            "signing_secret": SIGNING_SECRET,
            "webhook_secret": "env:RUCKSACK_HOOK_SECRET",
        },
    )
    assert status == 201
    status, answer = await call(
        "POST",
        url,
        {
            "slug": "short",
            "name": "S",
            "domain": "meet.example.org",
            "app_id": "a",
            "signing_secret": "too-short",
        },
    )
    assert (status, answer["error"]["field"]) == (422, "signing_secret")
    status, ref = await call(
        "POST",
        url,
        {
            "slug": "ref",
            "name": "R",
            "domain": "meet.example.org",
            "app_id": "a",
            "algorithm": "RS256",
            "key_id": "k1",
            "signing_secret": "file:/run/secrets/jitsi.pem",
        },
    )
    assert status == 201
    assert ref["signing_secret_set"]

    # PATCH: an empty or absent secret keeps the stored one; switching to RS256 needs a key.
    status, answer = await call(
        "PATCH", f"/api/v1/deployments/{hs['id']}", {"name": "HS 2", "signing_secret": ""}
    )
    assert status == 200
    assert answer["name"] == "HS 2"
    assert fresh(db, m.JitsiDeployment, hs["id"]).signing_secret == SIGNING_SECRET
    status, answer = await call(
        "PATCH", f"/api/v1/deployments/{hs['id']}", {"algorithm": "RS256", "key_id": "k"}
    )
    assert (status, answer["error"]["field"]) == (422, "signing_secret")
    status, answer = await call(
        "PATCH",
        f"/api/v1/deployments/{hs['id']}",
        {"algorithm": "RS256", "key_id": "k", "signing_secret": rsa_pem},
    )
    assert status == 200
    assert answer["algorithm"] == "RS256"

    status, _ = await call("GET", f"/api/v1/deployments/{hs['id']}")
    status, listed = await call("GET", url)
    assert {d["slug"] for d in listed["items"]} >= {"jaas-ki", "meet-hs", "ref"}
    status, _ = await call("DELETE", f"/api/v1/deployments/{world.deployment.id}")
    assert status == 409
    status, _ = await call("DELETE", f"/api/v1/deployments/{jaas['id']}")
    assert status == 204
    assert fresh(db, m.JitsiDeployment, jaas["id"]) is None

    pem_line = rsa_pem.splitlines()[2]
    for text in bodies:
        assert SIGNING_SECRET not in text
        assert WEBHOOK_SECRET not in text
        assert pem_line not in text
    audit = " ".join(str(a.detail) for a in every(db, select(m.AuditEntry)))
    assert SIGNING_SECRET not in audit
    assert pem_line not in audit


async def test_api_rejects_malformed_bodies_naming_the_field(client, db, world):
    h = world.auth
    resp = await client.post(
        "/api/v1/groups", data=b"{not json", headers={**h, "Content-Type": "application/json"}
    )
    assert resp.status == 400
    resp = await client.post("/api/v1/groups", json=[1, 2], headers=h)
    assert resp.status == 400
    cases = [
        (
            "POST",
            "/api/v1/groups",
            {
                "centre_id": "1",
                "name": "x",
                "languages": ["tr"],
                "cycle_start": "2026-09-01",
                "cycle_end": "2027-01-01",
            },
            "centre_id",
        ),
        (
            "POST",
            "/api/v1/groups",
            {
                "centre_id": world.centre.id,
                "name": "x",
                "languages": ["tr"],
                "cycle_start": "gestern",
                "cycle_end": "2027-01-01",
            },
            "cycle_start",
        ),
        (
            "POST",
            "/api/v1/groups",
            {
                "centre_id": world.centre.id,
                "name": "x",
                "languages": "tr",
                "cycle_start": "2026-09-01",
                "cycle_end": "2027-01-01",
            },
            "languages",
        ),
        (
            "POST",
            "/api/v1/groups",
            {
                "centre_id": world.centre.id,
                "name": "x",
                "languages": ["tr"],
                "cycle_start": "2026-09-01",
                "cycle_end": "2027-01-01",
                "colour": "red",
            },
            "colour",
        ),
        (
            "POST",
            "/api/v1/groups",
            {
                "centre_id": world.centre.id,
                "name": "x" * 201,
                "languages": ["tr"],
                "cycle_start": "2026-09-01",
                "cycle_end": "2027-01-01",
            },
            "name",
        ),
        (
            "POST",
            "/api/v1/groups",
            {
                "centre_id": world.centre.id,
                "name": "x",
                "languages": ["tr"],
                "cycle_start": "2026-09-01",
                "cycle_end": "2027-01-01",
                "facilitator_ids": [world.coordinator.id],
            },
            "facilitator_ids",
        ),
        ("PATCH", f"/api/v1/groups/{world.group.id}", {"archived": "yes"}, "archived"),
        ("PATCH", f"/api/v1/groups/{world.group.id}", {"deployment_id": 99999}, "deployment_id"),
        ("PATCH", f"/api/v1/groups/{world.group.id}", {"name": "nul\x00byte"}, "name"),
        ("PATCH", f"/api/v1/groups/{world.group.id}", {"site_name": "lone \ud800 surrogate"}, "site_name"),
        ("PATCH", f"/api/v1/deployments/{world.deployment.id}", {"app_id": "a\x00b"}, "app_id"),
        (
            "POST",
            f"/api/v1/centres/{world.centre.id}/staff",
            {"email": "a\x00@example.org", "display_name": "X"},
            "email",
        ),
        ("PATCH", f"/api/v1/parents/{world.parent.id}", {"language": "it"}, "language"),
        ("PATCH", f"/api/v1/parents/{world.parent.id}", {"phone": "12"}, "phone"),
        (
            "PATCH",
            f"/api/v1/parents/{world.parent.id}",
            {"email": "no-at-sign", "email_consent": True},
            "email",
        ),
        (
            "POST",
            "/api/v1/parents",
            {"centre_id": world.centre.id, "display_name": "", "language": "tr"},
            "display_name",
        ),
        ("PATCH", f"/api/v1/centres/{world.centre.id}", {"present_min_minutes": 4.5}, "present_min_minutes"),
        ("PATCH", f"/api/v1/centres/{world.centre.id}", {"present_min_minutes": True}, "present_min_minutes"),
    ]
    for method, path, body, field in cases:
        resp = await client.request(method, path, json=body, headers=h)
        assert resp.status == 422, (path, body, await resp.text())
        assert (await resp.json())["error"]["field"].split(".")[0] == field, (body, await resp.text())
    assert fresh(db, m.Group, world.group.id).name == world.group.name


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/groups/999999"),
        ("GET", "/api/v1/groups/abc"),
        ("GET", "/api/v1/groups/99999999999999999999"),
        ("PATCH", "/api/v1/groups/0"),
        ("GET", "/api/v1/centres/424242"),
        ("PATCH", "/api/v1/staff/424242"),
        ("GET", "/api/v1/deployments/424242"),
        ("DELETE", "/api/v1/deployments/424242"),
        ("GET", "/api/v1/parents/424242"),
        ("GET", "/api/v1/groups/424242/parents"),
        ("DELETE", "/api/v1/groups/{group}/parents/424242"),
        ("POST", "/api/v1/groups/424242/parents/import"),
    ],
)
async def test_unknown_ids_are_404_json(client, world, method, path):
    body = {} if method == "PATCH" else None
    headers = {**world.auth, "Content-Type": "text/csv"} if path.endswith("import") else world.auth
    resp = await client.request(method, path.format(group=world.group.id), json=body, headers=headers)
    assert resp.status == 404, await resp.text()
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_unknown_ids_on_pages_are_404(client, world):
    await login(client, world.coordinator.email)
    for path in ("/groups/999999", "/groups/99999999999999", "/parents/999999", "/deployments/999999"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert "text/html" in resp.headers["Content-Type"]


async def test_openapi_describes_the_set_up_api(client):
    doc = await (await client.get("/api/v1/openapi.json")).json()
    for path in (
        "/api/v1/centres/{centre_id}/deployments",
        "/api/v1/groups/{group_id}/parents/import",
        "/api/v1/groups/{group_id}/parents/{parent_id}",
        "/api/v1/staff/{user_id}",
    ):
        assert path in doc["paths"], path
    schemas = doc["components"]["schemas"]
    assert "signing_secret" not in schemas["DeploymentOut"]["properties"]
    assert schemas["DeploymentCreate"]["properties"]["signing_secret"]["writeOnly"] is True
    assert "ALL OR NOTHING" in schemas["ImportResult"]["description"]
    assert "description" in schemas["GroupCreate"]["properties"]["languages"]


async def test_names_are_shown_as_text_never_as_markup(client, db, world):
    factories.parent(db, world.centre, groups=[world.group], display_name='<img src=x onerror="alert(1)">')
    db.commit()
    await login(client, world.coordinator.email)
    for path in (f"/groups/{world.group.id}", "/parents"):
        text = await (await client.get(path)).text()
        assert "<img src=x" not in text, path
        assert "&lt;img src=x" in text, path
