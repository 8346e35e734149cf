"""A stored deployment row becomes the token library's Deployment; secrets may be references."""

from __future__ import annotations

import datetime as dt

import jwt
import pytest

from integrations.jitsi.tokens import Participant, mint_token
from orchestrator.conference.deployments import DeploymentUnusable, to_deployment
from orchestrator.models import JitsiDeployment

SECRET = "an-app-secret-of-at-least-32-bytes!!"


def row(**kw) -> JitsiDeployment:
    values = {
        "slug": "meet",
        "name": "Jitsi",
        "kind": "self_hosted",
        "domain": "meet.example.org",
        "base_url": "https://meet.example.org",
        "tenant": None,
        "app_id": "rucksack",
        "algorithm": "HS256",
        "key_id": None,
        "signing_secret": SECRET,
        "token_in_query": False,
    }
    values.update(kw)
    return JitsiDeployment(**values)


def signed_with(deployment, secret: str) -> bool:
    start = dt.datetime(2026, 12, 1, 8, tzinfo=dt.UTC)
    token = mint_token(
        deployment,
        "rs-abc",
        Participant("p-1", "A", moderator=False),
        not_before=start,
        expires=start + dt.timedelta(hours=2),
    )
    try:
        jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_aud": False},
        )
    except jwt.InvalidSignatureError:
        return False
    return True


def test_literal_secret():
    deployment = to_deployment(row())
    assert deployment.domain == "meet.example.org"
    assert signed_with(deployment, SECRET)
    assert SECRET not in repr(deployment)


def test_secret_from_environment(monkeypatch):
    monkeypatch.setenv("RS_UNIT_JITSI_SECRET", "x" * 40)
    assert signed_with(to_deployment(row(signing_secret="env:RS_UNIT_JITSI_SECRET")), "x" * 40)


def test_secret_from_file_is_read_again_after_rotation(tmp_path):
    path = tmp_path / "jitsi-secret"
    path.write_text("a" * 40 + "\n")
    stored = row(signing_secret=f"file:{path}")
    assert signed_with(to_deployment(stored), "a" * 40)  # the trailing newline is not part of it
    path.write_text("b" * 40)
    assert signed_with(to_deployment(stored), "b" * 40)


@pytest.mark.parametrize(
    ("stored", "named"),
    [
        ({"signing_secret": "env:RS_UNIT_NOT_SET_ANYWHERE"}, "RS_UNIT_NOT_SET_ANYWHERE"),
        ({"signing_secret": "file:/nonexistent/secret"}, "/nonexistent/secret"),
        ({"signing_secret": "too short"}, "meet"),
        ({"base_url": "http://meet.example.org"}, "https"),
    ],
)
def test_unusable_deployments_are_named_without_the_secret(stored, named):
    with pytest.raises(DeploymentUnusable) as caught:
        to_deployment(row(**stored))
    assert named in caught.value.message
    assert SECRET not in caught.value.message
    assert caught.value.status == 409


def test_tenant_and_token_in_query_are_passed_on():
    deployment = to_deployment(row(tenant="KI-Dortmund", token_in_query=True))
    assert deployment.subject == "ki-dortmund"
    assert deployment.token_in_query is True
