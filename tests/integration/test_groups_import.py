"""CSV import of parents into a group, through the API and the upload page, on both databases.

The import is all or nothing: a file with any broken row imports nobody and reports every
broken row with its line number. These tests count the parents before and after.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import aiohttp
import pytest
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.accounts import services as accounts
from tests import factories
from tests.support import login

BOM = "\ufeff"
GOOD_EXCEL_FILE = (
    BOM
    + "display_name;language;phone;email;sms_consent;email_consent\r\n"
    + "Ayşe K.;tr;0171 1234567;;ja;nein\r\n"
    + "Fatima;AR;;;nein;\r\n"
    + '"Olena; die Ältere";uk;;olena@example.org;0;1\r\n'
    + ";;;;;\r\n"
    + "Zeynep;tr;;;;\r\n"
).encode()


@pytest.fixture
def world(db):
    centre = factories.centre(db)
    # The tests read English texts.
    coordinator = factories.quick_user(db, "coordinator", centre, language="en")
    group = factories.group(db, centre)
    factories.parent(db, centre, groups=[group], display_name="Bereits da")
    _, token = accounts.create_api_token(
        db, user_id=coordinator.id, name="import script", scopes=["read", "write"]
    )
    db.commit()
    return SimpleNamespace(
        centre=centre,
        coordinator=coordinator,
        group=group,
        url=f"/api/v1/groups/{group.id}/parents/import",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv; charset=utf-8"},
    )


def parents_in(db, group_id: int) -> dict[str, m.Parent]:
    rows = db.scalars(
        select(m.Parent)
        .join(m.Enrolment, m.Enrolment.parent_id == m.Parent.id)
        .where(m.Enrolment.group_id == group_id, m.Enrolment.left_at.is_(None))
        .execution_options(populate_existing=True)
    )
    found = {p.display_name: p for p in rows}
    db.commit()  # end the read: an open SQLite transaction would lock the app out
    return found


def upload(data: bytes, csrf: str | None) -> aiohttp.FormData:
    """The upload form as a browser sends it (multipart, the file with its name)."""
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf_token", csrf)
    form.add_field("file", io.BytesIO(data), filename="eltern.csv", content_type="text/csv")
    return form


def parent_count(db) -> int:
    n = db.scalar(select(func.count()).select_from(m.Parent))
    db.commit()
    return n


async def test_excel_file_with_bom_and_semicolons_is_imported(client, db, world):
    resp = await client.post(world.url, data=GOOD_EXCEL_FILE, headers=world.headers)
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    assert answer["imported"] == 4
    parents = parents_in(db, world.group.id)
    assert set(parents) == {"Bereits da", "Ayşe K.", "Fatima", "Olena; die Ältere", "Zeynep"}
    ayse, olena = parents["Ayşe K."], parents["Olena; die Ältere"]
    assert (ayse.phone, ayse.language) == ("+491711234567", "tr")
    assert ayse.sms_consent_at is not None
    assert ayse.email_consent_at is None
    assert (olena.email, olena.phone) == ("olena@example.org", None)
    assert olena.email_consent_at is not None
    assert parents["Fatima"].language == "ar"
    assert sorted(answer["parent_ids"]) == sorted(p.id for n, p in parents.items() if n != "Bereits da")
    assert len({p.pseudonym for p in parents.values()}) == 5


async def test_comma_separated_file_without_bom_is_imported(client, db, world):
    data = b'language,display_name\nde,"Anna, Maria"\nbg,Ivanka\n'
    resp = await client.post(world.url, data=data, headers=world.headers)
    assert resp.status == 201, await resp.text()
    assert {"Anna, Maria", "Ivanka"} <= set(parents_in(db, world.group.id))


async def test_broken_rows_are_all_reported_and_nothing_is_imported(client, db, world):
    before = parent_count(db)
    data = (
        "display_name;language;phone;email;sms_consent;email_consent\n"  # line 1
        "Gut;tr;;;;\n"  # 2: fine
        "Sprache falsch;xx;;;;\n"  # 3: not a parent language
        ";ar;;;;\n"  # 4: no name
        "Mail kaputt;de;;kein-at-zeichen;;ja\n"  # 5: not an e-mail address
        "Zu viele;tr;;;;;überzählig\n"  # 6: too many columns
        "Ohne Zustimmung;ru;0171 7654321;;nein;\n"  # 7: phone without consent
        "Gut;pl;;;;\n"  # 8: same name as line 2
        "Bereits da;de;;;;\n"  # 9: already in the group
    ).encode()
    resp = await client.post(world.url, data=data, headers=world.headers)
    assert resp.status == 422
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_input"
    assert error["field"] == "file"
    problems = {(int(d["line"]), d["field"]) for d in error["details"]}
    assert problems == {
        (3, "language"),
        (4, "display_name"),
        (5, "email"),
        (6, "row"),
        (7, "sms_consent"),
        (8, "display_name"),
        (9, "display_name"),
    }
    assert parent_count(db) == before


@pytest.mark.parametrize(
    ("data", "line", "field"),
    [
        pytest.param(b"name;language\nAnna;de\n", 1, "name", id="unknown column"),
        pytest.param(b"display_name;phone\nAnna;\n", 1, "language", id="required column missing"),
        pytest.param(b"display_name;language\n", 0, "file", id="header only"),
        pytest.param(b"", 0, "file", id="empty"),
        pytest.param("display_name;language\nJürgen;de\n".encode("cp1252"), 2, "file", id="not UTF-8"),
        pytest.param(b'display_name;language\n"Anna;de\n', 2, "file", id="unclosed quote"),
        pytest.param(b"display_name;language\n" + b"Anna;de\n" * 501, 502, "file", id="too many rows"),
    ],
)
async def test_files_that_cannot_be_read_are_refused_with_the_line(client, db, world, data, line, field):
    before = parent_count(db)
    resp = await client.post(world.url, data=data, headers=world.headers)
    assert resp.status == 422, await resp.text()
    details = (await resp.json())["error"]["details"]
    assert (str(line), field) in {(d["line"], d["field"]) for d in details}, details
    assert parent_count(db) == before


async def test_the_same_file_twice_imports_nobody_twice(client, db, world):
    assert (await client.post(world.url, data=GOOD_EXCEL_FILE, headers=world.headers)).status == 201
    before = parent_count(db)
    resp = await client.post(world.url, data=GOOD_EXCEL_FILE, headers=world.headers)
    assert resp.status == 422
    assert len((await resp.json())["error"]["details"]) == 4
    assert parent_count(db) == before


async def test_the_body_must_be_csv(client, world):
    headers = {**world.headers, "Content-Type": "application/json"}
    resp = await client.post(world.url, data=b'{"display_name": "x"}', headers=headers)
    assert resp.status == 415
    assert (await resp.json())["error"]["code"] == "unsupported_media_type"


async def test_upload_page_imports_a_good_file(client, db, world):
    csrf = await login(client, world.coordinator.email)
    page = await client.get(f"/groups/{world.group.id}/parents/import")
    assert page.status == 200
    text = await page.text()
    assert "All or nothing" in text
    assert 'enctype="multipart/form-data"' in text
    resp = await client.post(
        f"/groups/{world.group.id}/parents/import",
        data=upload(GOOD_EXCEL_FILE, csrf),
        allow_redirects=False,
    )
    assert resp.status == 303
    assert resp.headers["Location"] == f"/groups/{world.group.id}?done=imported&n=4"
    page = await client.get(resp.headers["Location"])
    assert "4 parents imported." in await page.text()
    assert len(parents_in(db, world.group.id)) == 5


async def test_upload_page_lists_every_broken_line_and_imports_nothing(client, db, world):
    csrf = await login(client, world.coordinator.email)
    before = parent_count(db)
    data = b"display_name;language\nGut;tr\nSchlecht;xx\n;de\n<b>Fett</b>;it\n"
    resp = await client.post(f"/groups/{world.group.id}/parents/import", data=upload(data, csrf))
    assert resp.status == 422
    text = await resp.text()
    for line in ("<td>3</td>", "<td>4</td>", "<td>5</td>"):
        assert line in text
    assert "<td>2</td>" not in text
    assert "nothing was imported" in text
    assert "<b>Fett" not in text  # what the file says is never markup on our page
    assert parent_count(db) == before

    resp = await client.post(f"/groups/{world.group.id}/parents/import", data={"csrf_token": csrf})
    assert resp.status == 422
    assert parent_count(db) == before


async def test_upload_without_csrf_token_is_refused(client, db, world):
    await login(client, world.coordinator.email)
    before = parent_count(db)
    resp = await client.post(f"/groups/{world.group.id}/parents/import", data=upload(GOOD_EXCEL_FILE, None))
    assert resp.status == 403
    assert parent_count(db) == before
