"""A mistake comes back in the staff member's language, on the pages and from the API.

Staff pages are German by default (the language of a new account) and English when chosen; the
API answers in the language of the token's user. Only the words differ: the status code and the
field the answer names stay the same.
"""

from __future__ import annotations

from orchestrator.accounts.services import MIN_PASSWORD_LENGTH
from tests import factories
from tests.support import login


async def test_a_form_shows_the_mistake_in_the_language_of_the_page(client, db):
    centre = factories.centre(db)
    coordinator = factories.quick_user(db, "coordinator", centre)
    db.commit()
    csrf = await login(client, coordinator.email)
    form = {
        "csrf_token": csrf,
        "display_name": "Neue Begleitung",
        "role": "facilitator",
        "email": "neu@example.org",
        "password": "kurz",  # shorter than MIN_PASSWORD_LENGTH
    }

    german = await client.post("/staff", data=form)
    assert german.status == 422
    page = await german.text()
    assert '<html lang="de"' in page
    assert f"Das Passwort braucht mindestens {MIN_PASSWORD_LENGTH} Zeichen." in page
    assert "the password needs" not in page
    assert 'id="f-password"' in page
    assert 'aria-invalid="true"' in page

    english = await client.post("/staff?lang=en", data=form)
    assert english.status == 422
    page = await english.text()
    assert '<html lang="en"' in page
    assert f"the password needs at least {MIN_PASSWORD_LENGTH} characters" in page
    assert "Das Passwort" not in page


async def test_the_api_answers_in_the_language_of_the_token_user(client, db):
    centre = factories.centre(db)
    coordinator = factories.quick_user(db, "coordinator", centre)
    _, token = factories.api_token(db, coordinator)
    db.commit()
    path = f"/api/v1/centres/{centre.id}/report?from=2026-10-02&to=2026-10-01"
    auth = {"Authorization": f"Bearer {token}"}

    german = await client.get(path, headers=auth)
    assert german.status == 422
    assert (await german.json())["error"] == {
        "code": "invalid_input",
        "message": "Der Zeitraum endet, bevor er beginnt.",
        "field": "to",
    }

    english = await client.get(path + "&lang=en", headers=auth)
    assert english.status == 422
    assert (await english.json())["error"]["message"] == "the range ends before it starts"


async def test_a_malformed_api_body_is_explained_in_the_users_language(client, db):
    """Type and shape mistakes (caught by the request schema) are worded like every other error;
    each detail keeps the schema's stable code for programs."""
    centre = factories.centre(db)
    coordinator = factories.quick_user(db, "coordinator", centre)
    _, token = factories.api_token(db, coordinator)
    db.commit()
    body = {
        "centre_id": centre.id,
        "name": "x" * 201,
        "languages": "tr",
        "cycle_start": "im Herbst",
        "cycle_end": "2027-07-31",
        "colour": "blue",
    }
    auth = {"Authorization": f"Bearer {token}"}

    german = await client.post("/api/v1/groups", json=body, headers=auth)
    assert german.status == 422
    error = (await german.json())["error"]
    assert error["field"] == "name"
    assert error["message"] == "name: darf höchstens 200 Zeichen haben"
    assert {(d["field"], d["type"], d["message"]) for d in error["details"]} == {
        ("name", "string_too_long", "darf höchstens 200 Zeichen haben"),
        ("languages", "list_type", "muss eine Liste sein"),
        ("cycle_start", "date_from_datetime_parsing", "muss ein Datum sein (JJJJ-MM-TT)"),
        ("colour", "extra_forbidden", "ist kein Feld dieser Anfrage"),
    }

    english = await client.post("/api/v1/groups?lang=en", json=body, headers=auth)
    assert english.status == 422
    details = {d["field"]: d["message"] for d in (await english.json())["error"]["details"]}
    assert details["name"] == "must have at most 200 characters"
    assert details["cycle_start"] == "must be a date (YYYY-MM-DD)"
