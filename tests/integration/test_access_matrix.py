"""Who may do what with the set-up: role × resource × action, with the expected HTTP status.

The world: centre A with a group G led by facilitator F, a second group led by another
facilitator of A, a parent P in G and parents outside G, a Jitsi deployment and a spare
facilitator whose account is changed; centre B has its own coordinator.

``API_MATRIX`` is the table. Each row (resource × action) is one test in which every role does
the action to A's record through the API in turn; every cell whose status differs from the
table is reported. (One test per row rather than per cell: building the world is most of the
cost, and a row shares it.) Pages get a smaller table, one test per role; CSRF its own tests.

Reading the table: 401 = not logged in; 403 = logged in but the role (or the token's scope) may
not; 404 = the record is outside the actor's reach and is reported as not existing, so ids of
other centres cannot be probed. State admins set up centres, staff, deployments and groups but
never see parents' data (they get aggregates only), hence their 403 on parents and members.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select

from orchestrator import models as m
from orchestrator.accounts import services as accounts
from orchestrator.security import hash_secret
from orchestrator.web.context import LOGIN_COOKIE
from tests import factories
from tests.support import login

ROLES = (
    "admin",  # state admin (LaKI), bearer token with read+write
    "coordinator_a",  # coordinator of centre A, logged in through the form (cookie + CSRF header)
    "coordinator_b",  # coordinator of centre B, bearer token
    "facilitator_g",  # facilitator of group G in centre A, bearer token
    "facilitator_x",  # facilitator of another group in centre A, bearer token
    "anonymous",  # no login, no token
    "read_token",  # coordinator A's token with the "read" scope only
    "write_token",  # coordinator A's token with "read" and "write"
)

# fmt: off
API_MATRIX: dict[tuple[str, str], tuple[int, ...]] = {
    #                          admin coord_A coord_B facil_G facil_X anon read  write
    ("centre", "view"):        (200,  200,    404,    200,    200,    401, 200,  200),
    ("centre", "create"):      (201,  403,    403,    403,    403,    401, 403,  403),
    ("centre", "change"):      (200,  200,    404,    403,    403,    401, 403,  200),
    ("staff", "view"):         (200,  200,    404,    403,    403,    401, 200,  200),
    ("staff", "create"):       (201,  201,    404,    403,    403,    401, 403,  201),
    ("staff", "change"):       (200,  200,    404,    403,    403,    401, 403,  200),
    ("deployment", "view"):    (200,  200,    404,    403,    403,    401, 200,  200),
    ("deployment", "create"):  (201,  201,    404,    403,    403,    401, 403,  201),
    ("deployment", "change"):  (200,  200,    404,    403,    403,    401, 403,  200),
    ("group", "view"):         (200,  200,    404,    200,    404,    401, 200,  200),
    ("group", "create"):       (201,  201,    404,    403,    403,    401, 403,  201),
    ("group", "change"):       (200,  200,    404,    403,    403,    401, 403,  200),
    ("parent", "view"):        (403,  200,    404,    403,    403,    401, 200,  200),
    ("parent", "create"):      (403,  201,    404,    403,    403,    401, 403,  201),
    ("parent", "change"):      (403,  200,    404,    403,    403,    401, 403,  200),
    ("member", "view"):        (403,  200,    404,    200,    404,    401, 200,  200),
    ("member", "create"):      (403,  201,    404,    403,    403,    401, 403,  201),
    ("member", "change"):      (403,  200,    404,    403,    403,    401, 403,  200),
}
# fmt: on


@dataclasses.dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: dict[str, Any] | None = None


# What each action on each resource is, aimed at centre A in the world ``w``. ``n`` is the role's
# column: creations use it to stay unique (slugs, e-mail addresses, the parent to enrol), so that
# every role of a row can act in the same world.
ACTIONS: dict[tuple[str, str], Callable[[SimpleNamespace, int], Call]] = {
    ("centre", "view"): lambda w, n: Call("GET", f"/centres/{w.a.id}"),
    ("centre", "create"): lambda w, n: Call("POST", "/centres", {"name": "KI Neu", "slug": f"ki-neu-{n}"}),
    ("centre", "change"): lambda w, n: Call("PATCH", f"/centres/{w.a.id}", {"present_min_minutes": 30}),
    ("staff", "view"): lambda w, n: Call("GET", f"/centres/{w.a.id}/staff"),
    ("staff", "create"): lambda w, n: Call(
        "POST", f"/centres/{w.a.id}/staff", {"email": f"neu{n}@example.org", "display_name": "Neu"}
    ),
    ("staff", "change"): lambda w, n: Call("PATCH", f"/staff/{w.spare.id}", {"display_name": "Umbenannt"}),
    ("deployment", "view"): lambda w, n: Call("GET", f"/deployments/{w.deployment.id}"),
    ("deployment", "create"): lambda w, n: Call(
        "POST",
        f"/centres/{w.a.id}/deployments",
        {
            "slug": f"neu-{n}",
            "name": "Neu",
            "domain": "meet.example.org",
            "app_id": "a",
            "signing_secret": "s" * 32,
        },
    ),
    ("deployment", "change"): lambda w, n: Call(
        "PATCH", f"/deployments/{w.deployment.id}", {"name": "Umbenannt"}
    ),
    ("group", "view"): lambda w, n: Call("GET", f"/groups/{w.g.id}"),
    ("group", "create"): lambda w, n: Call(
        "POST",
        "/groups",
        {
            "centre_id": w.a.id,
            "name": "Neu",
            "languages": ["tr"],
            "cycle_start": "2026-09-01",
            "cycle_end": "2027-06-30",
        },
    ),
    ("group", "change"): lambda w, n: Call("PATCH", f"/groups/{w.g.id}", {"name": "Umbenannt"}),
    ("parent", "view"): lambda w, n: Call("GET", f"/parents/{w.p.id}"),
    ("parent", "create"): lambda w, n: Call(
        "POST", "/parents", {"centre_id": w.a.id, "display_name": f"Neu {n}", "language": "tr"}
    ),
    ("parent", "change"): lambda w, n: Call("PATCH", f"/parents/{w.p.id}", {"display_name": "Umbenannt"}),
    ("member", "view"): lambda w, n: Call("GET", f"/groups/{w.g.id}/parents"),
    ("member", "create"): lambda w, n: Call(
        "POST", f"/groups/{w.g.id}/parents", {"parent_id": w.outside[n].id}
    ),
    # Leaving twice is no error (the second call changes nothing), so every role may try it.
    ("member", "change"): lambda w, n: Call("DELETE", f"/groups/{w.g.id}/parents/{w.p.id}"),
}

assert set(ACTIONS) == set(API_MATRIX), "every cell of the matrix needs its action, and back"


def _token(db, user, scopes=("read", "write")) -> str:
    _, token = accounts.create_api_token(db, user_id=user.id, name="matrix", scopes=list(scopes))
    return token


@pytest.fixture
def w(db) -> SimpleNamespace:
    a, b = factories.centre(db), factories.centre(db)
    admin = factories.quick_user(db, "admin")
    coordinator_a = factories.quick_user(db, "coordinator", a)
    coordinator_b = factories.quick_user(db, "coordinator", b)
    facilitator_g = factories.quick_user(db, "facilitator", a)
    facilitator_x = factories.quick_user(db, "facilitator", a)
    spare = factories.quick_user(db, "facilitator", a)
    deployment = factories.deployment(db, a)
    g = factories.group(db, a, facilitators=[facilitator_g], deployment_id=deployment.id)
    factories.group(db, a, facilitators=[facilitator_x])
    p = factories.parent(db, a, groups=[g], display_name="Ayşe")
    # Parents of A outside G, one per role, for "member create".
    outside = [factories.parent(db, a, display_name=f"Außen {n}") for n in range(len(ROLES))]
    world = SimpleNamespace(
        a=a, b=b, g=g, p=p, outside=outside, deployment=deployment, spare=spare,
        users={"admin": admin, "coordinator_a": coordinator_a, "coordinator_b": coordinator_b,
               "facilitator_g": facilitator_g, "facilitator_x": facilitator_x},
        tokens={
            "admin": _token(db, admin),
            "coordinator_b": _token(db, coordinator_b),
            "facilitator_g": _token(db, facilitator_g),
            "facilitator_x": _token(db, facilitator_x),
            "read_token": _token(db, coordinator_a, ["read"]),
            "write_token": _token(db, coordinator_a),
        },
    )  # fmt: skip
    world.login_cookie = accounts.start_login(db, user_id=coordinator_a.id, hours=1)
    world.login_csrf = db.scalar(
        select(m.StaffLogin.csrf_token).where(m.StaffLogin.token_hash == hash_secret(world.login_cookie))
    )
    db.commit()
    return world


async def _as(client, w: SimpleNamespace, role: str) -> dict[str, str]:
    """The headers (and cookie) that make ``client`` act as ``role``."""
    if role == "anonymous":
        return {}
    if role == "coordinator_a":
        # A browser login made directly (the form costs an argon2 check per cell; the form
        # itself is tested in test_accounts): the cookie, plus the login's CSRF token as header.
        client.session.cookie_jar.update_cookies({LOGIN_COOKIE: w.login_cookie}, client.make_url("/"))
        return {"X-CSRF-Token": w.login_csrf}
    return {"Authorization": f"Bearer {w.tokens[role]}"}


@pytest.mark.parametrize(("resource", "action"), list(API_MATRIX), ids=[f"{r}-{a}" for r, a in API_MATRIX])
async def test_api(client, w, resource, action):
    """Every role does the action in turn; all cells that differ from the table are reported."""
    wrong = []
    for n, (role, expected) in enumerate(zip(ROLES, API_MATRIX[(resource, action)], strict=True)):
        client.session.cookie_jar.clear()
        call = ACTIONS[(resource, action)](w, n)
        headers = await _as(client, w, role)
        resp = await client.request(call.method, "/api/v1" + call.path, json=call.body, headers=headers)
        text = await resp.text()
        if resp.status != expected:
            wrong.append(
                f"{role:14} {call.method} {call.path}: {resp.status}, expected {expected} ({text[:200]})"
            )
        elif expected >= 400:
            assert (await resp.json())["error"]["code"] in ("unauthenticated", "forbidden", "not_found")
    assert not wrong, f"{resource} {action}:\n" + "\n".join(wrong)


async def test_refused_writes_change_nothing(client, db, w):
    """A sample of refused writes, checked in the database, not only by their status."""
    before = {model: db.scalar(select(func.count()).select_from(model)) for model in (m.Group, m.Parent)}
    db.commit()
    for role in ("coordinator_b", "facilitator_g", "read_token", "admin"):
        headers = await _as(client, w, role)
        for key in (("parent", "create"), ("parent", "change"), ("member", "change")):
            call = ACTIONS[key](w, ROLES.index(role))
            resp = await client.request(call.method, "/api/v1" + call.path, json=call.body, headers=headers)
            assert resp.status in (403, 404)
    after = {model: db.scalar(select(func.count()).select_from(model)) for model in (m.Group, m.Parent)}
    parent = db.get(m.Parent, w.p.id, populate_existing=True)
    enrolment = db.scalar(select(m.Enrolment).where(m.Enrolment.parent_id == w.p.id))
    db.commit()
    assert after == before
    assert parent.display_name == "Ayşe"
    assert enrolment.left_at is None


# --- pages ---------------------------------------------------------------------------------------

PAGE_ROLES = ("admin", "coordinator_a", "coordinator_b", "facilitator_g", "facilitator_x", "anonymous")
# 303 for anonymous: the login page; for an admin without a chosen centre: the admin page.
# fmt: off
PAGE_MATRIX: dict[str, tuple[int, ...]] = {
    #                                  admin coord_A coord_B facil_G facil_X anon
    "/groups":                         (200,  200,    200,    200,    200,    303),
    "/groups/{g}":                     (200,  200,    404,    200,    404,    303),
    "/groups/{g}/edit":                (200,  200,    404,    403,    403,    303),
    "/groups/{g}/parents/import":      (403,  200,    404,    403,    403,    303),
    "/parents":                        (403,  200,    200,    403,    403,    303),
    "/parents/{p}":                    (403,  200,    404,    403,    403,    303),
    "/parents/new":                    (403,  200,    200,    403,    403,    303),
    "/staff":                          (303,  200,    200,    403,    403,    303),
    "/staff?centre={a}":               (200,  200,    404,    403,    403,    303),
    "/centre":                         (303,  200,    200,    403,    403,    303),
    "/centre?centre={a}":              (200,  200,    404,    403,    403,    303),
    "/deployments?centre={a}":         (200,  200,    404,    403,    403,    303),
    "/deployments/{d}":                (200,  200,    404,    403,    403,    303),
    "/admin":                          (200,  403,    403,    403,    403,    303),
}
# fmt: on


@pytest.mark.parametrize("role", PAGE_ROLES)
async def test_pages(client, w, role):
    """One login per role, then every page; all mismatches are reported together."""
    if role != "anonymous":
        await login(client, w.users[role].email)
    column = PAGE_ROLES.index(role)
    wrong = []
    for template, row in PAGE_MATRIX.items():
        path = template.format(g=w.g.id, p=w.p.id, a=w.a.id, d=w.deployment.id)
        resp = await client.get(path, allow_redirects=False)
        if resp.status != row[column]:
            wrong.append(f"{path}: {resp.status}, expected {row[column]}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


# --- CSRF ----------------------------------------------------------------------------------------


async def test_page_forms_without_the_csrf_token_are_refused(client, db, w):
    before = [db.scalar(select(func.count()).select_from(model)) for model in (m.Group, m.Parent)]
    db.commit()
    csrf = await login(client, w.users["coordinator_a"].email)
    posts = [
        ("/groups", {"name": "X", "languages": "tr", "cycle_start": "2026-09-01", "cycle_end": "2027-06-30"}),
        (f"/groups/{w.g.id}/archive", {"archived": "1"}),
        ("/parents/new", {"display_name": "X", "language": "tr"}),
        (f"/staff/{w.spare.id}", {"active": "0"}),
        (f"/deployments/{w.deployment.id}/delete", {}),
    ]
    for path, form in posts:
        for token in (None, "forged-" + csrf[7:]):
            data = form if token is None else {**form, "csrf_token": token}
            resp = await client.post(path, data=data, allow_redirects=False)
            assert resp.status == 403, (path, token, resp.status)
    counts = [db.scalar(select(func.count()).select_from(model)) for model in (m.Group, m.Parent)]
    spare = db.get(m.StaffUser, w.spare.id, populate_existing=True)
    group = db.get(m.Group, w.g.id, populate_existing=True)
    db.commit()
    assert counts == before
    assert spare.active
    assert not group.archived


async def test_api_with_the_login_cookie_needs_the_csrf_header(client, w):
    csrf = await login(client, w.users["coordinator_a"].email)
    body = {"name": "Per Cookie"}
    resp = await client.patch(f"/api/v1/groups/{w.g.id}", json=body)
    assert resp.status == 403
    assert "CSRF" in (await resp.json())["error"]["message"]
    resp = await client.patch(f"/api/v1/groups/{w.g.id}", json=body, headers={"X-CSRF-Token": csrf})
    assert resp.status == 200


def test_the_matrix_covers_every_role_resource_and_action():
    resources = {r for r, _ in API_MATRIX}
    actions = {a for _, a in API_MATRIX}
    assert set(itertools.product(resources, actions)) == set(API_MATRIX)
    assert all(len(row) == len(ROLES) for row in API_MATRIX.values())
    assert all(len(row) == len(PAGE_ROLES) for row in PAGE_MATRIX.values())
