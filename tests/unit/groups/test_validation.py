"""The field checks behind every set-up form, API body and CSV row (no database)."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from orchestrator.errors import InvalidInput
from orchestrator.groups import validation as v


def field_of(fn, *args, **kwargs) -> str | None:
    with pytest.raises(InvalidInput) as caught:
        fn(*args, **kwargs)
    return caught.value.field


def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0171 1234567", "+491711234567"),
        ("0171/123 45-67", "+491711234567"),
        ("+49 (0)171 1234567", "+491711234567"),
        ("0049 171 1234567", "+491711234567"),
        ("+90 532 123 45 67", "+905321234567"),
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_phone_numbers_are_normalised_to_e164(raw, expected):
    assert v.phone(raw) == expected


@pytest.mark.parametrize("raw", ["12", "0171-CALL-ME", "+0 171 1234567", "+49 171 1234567 1234567 1"])
def test_what_is_not_a_phone_number_is_refused(raw):
    assert field_of(v.phone, raw) == "phone"


def test_email_keeps_the_local_part_and_lowercases_the_domain():
    assert v.email(" Hana.K@Example.ORG ") == "Hana.K@example.org"
    assert v.email("") is None
    for bad in ("no-at-sign", "a@b", "two words@example.org", "x@" + "y" * 260 + ".de"):
        assert field_of(v.email, bad) == "email"


def test_group_languages_accept_any_iso_639_1_code_once_in_order():
    assert v.group_languages(["TR", " ku", "ti", "tr", ""]) == ["tr", "ku", "ti"]
    assert v.group_languages(["sq", "fa"]) == ["sq", "fa"]
    assert {"tr", "ar", "ru", "ku", "ti", "sq", "fa", "it", "el"} <= v.GROUP_LANGUAGE_CODES
    assert field_of(v.group_languages, ["xx"]) == "languages"
    assert field_of(v.group_languages, ["prs"]) == "languages"  # Dari is given as fa
    assert field_of(v.group_languages, []) == "languages"
    assert (
        field_of(v.group_languages, ["de", "en", "tr", "ar", "ru", "uk", "pl", "ro", "bg", "fa", "it"])
        == "languages"
    )


def test_language_names_follow_the_staff_language():
    assert v.language_name("ku", "en") == "Kurdish"
    assert v.language_name("tr", "de") == "Türkisch"


def test_parent_language_is_one_of_the_ten_translated_ones():
    assert v.parent_language(" UK ") == "uk"
    assert field_of(v.parent_language, "it") == "language"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"phone": "+491711234567", "sms_consent": False}, "sms_consent"),
        ({"phone": None, "sms_consent": True}, "phone"),
        ({"email": "a@example.org", "email_consent": False}, "email_consent"),
        ({"email": None, "email_consent": True}, "email"),
    ],
)
def test_contact_is_only_kept_with_consent_to_its_channel(kwargs, field):
    args = {"phone": None, "sms_consent": False, "email": None, "email_consent": False, **kwargs}
    assert field_of(v.contact_with_consent, **args) == field


def test_contact_with_consent_passes():
    v.contact_with_consent(phone="+491711234567", sms_consent=True, email="a@example.org", email_consent=True)
    v.contact_with_consent(phone=None, sms_consent=False, email=None, email_consent=False)


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("ja", True),
        ("Yes", True),
        ("x", True),
        ("1", True),
        ("", False),
        ("nein", False),
        ("0", False),
        ("NO", False),
    ],
)
def test_consent_cells(cell, expected):
    assert v.consent_flag(cell, field="sms_consent") is expected


def test_unclear_consent_cell_is_refused():
    assert field_of(v.consent_flag, "vielleicht", field="sms_consent") == "sms_consent"


def test_text_is_trimmed_and_bounded():
    assert v.text("  Gruppe A ", field="name") == "Gruppe A"
    assert v.text("", field="site_name", required=False) == ""
    assert field_of(v.text, " ", field="name") == "name"
    assert field_of(v.text, "x" * 201, field="name") == "name"
    assert field_of(v.text, "a\x00b", field="name") == "name"
    assert field_of(v.text, "a\nb", field="name") == "name"


def test_reminder_offsets_are_distinct_largest_first_and_bounded():
    assert v.reminder_offsets([60, 1440, 60]) == [1440, 60]
    assert v.reminder_offsets([]) == []
    assert field_of(v.reminder_offsets, [1]) == "reminder_offsets"
    assert field_of(v.reminder_offsets, [60, 120, 180, 240, 300, 360]) == "reminder_offsets"
    assert field_of(v.reminder_offsets, [True]) == "reminder_offsets"


def test_cycle_order_and_length():
    import datetime as dt

    assert v.cycle(dt.date(2026, 9, 1), dt.date(2026, 9, 1))
    assert field_of(v.cycle, dt.date(2026, 9, 1), dt.date(2026, 8, 31)) == "cycle_end"
    assert field_of(v.cycle, dt.date(2026, 9, 1), dt.date(2062, 6, 30)) == "cycle_end"


SELF_HOSTED = v.DeploymentValues(
    kind="self_hosted",
    slug="meet-ki",
    name="Meet",
    domain="Meet.Example.org",
    base_url="",
    tenant=None,
    app_id="rucksack",
    algorithm="HS256",
    key_id=None,
    signing_secret="s" * 32,
    webhook_secret="",
    token_in_query=False,
)


def deployment(**changes) -> v.DeploymentValues:
    return dataclasses.replace(SELF_HOSTED, **changes)


def test_self_hosted_deployment_is_normalised():
    out = v.check_deployment(deployment(base_url="https://meet.example.org/", tenant=" Kita "))
    assert (out.domain, out.base_url, out.tenant) == ("meet.example.org", "https://meet.example.org", "Kita")
    assert v.check_deployment(SELF_HOSTED).base_url == "https://meet.example.org"


def test_jaas_deployment_gets_its_defaults_and_a_bare_key_id(rsa_pem):
    out = v.check_deployment(
        deployment(
            kind="jaas",
            domain="",
            app_id="vpaas-magic-cookie-abc",
            algorithm="RS256",
            key_id="vpaas-magic-cookie-abc/key1",
            signing_secret=rsa_pem,
        )
    )
    assert (out.domain, out.base_url, out.key_id) == ("8x8.vc", "https://8x8.vc", "key1")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "zoom"}, "kind"),
        ({"slug": "Meet KI"}, "slug"),
        ({"domain": "meet_example"}, "domain"),
        ({"base_url": "http://meet.example.org"}, "base_url"),
        ({"base_url": "https://user:pw@meet.example.org"}, "base_url"),
        ({"tenant": "with space"}, "tenant"),
        ({"app_id": "has space"}, "app_id"),
        ({"algorithm": "ES256"}, "algorithm"),
        ({"signing_secret": "short"}, "signing_secret"),
        ({"signing_secret": ""}, "signing_secret"),
        ({"algorithm": "RS256", "key_id": "k", "signing_secret": "s" * 40}, "signing_secret"),
        ({"algorithm": "RS256", "signing_secret": "env:JITSI_KEY"}, "key_id"),
        ({"signing_secret": "env:not a name"}, "signing_secret"),
        ({"signing_secret": "file:relative/path"}, "signing_secret"),
        ({"webhook_secret": "too-short"}, "webhook_secret"),
        ({"webhook_secret": "file:"}, "webhook_secret"),
        ({"kind": "jaas", "app_id": "vpaas-magic-cookie-a"}, "algorithm"),
        ({"kind": "jaas", "app_id": "my-app", "algorithm": "RS256"}, "app_id"),
        ({"kind": "jaas", "tenant": "t", "app_id": "vpaas-magic-cookie-a"}, "tenant"),
    ],
)
def test_deployment_problems_name_their_field(changes, field):
    assert field_of(v.check_deployment, deployment(**changes)) == field


def test_rs256_needs_an_rsa_key_of_2048_bits(rsa_pem):
    rs = {"algorithm": "RS256", "key_id": "k1"}
    assert v.check_deployment(deployment(**rs, signing_secret=rsa_pem)).signing_secret == rsa_pem.strip()
    crlf = rsa_pem.replace("\n", "\r\n")
    assert v.check_deployment(deployment(**rs, signing_secret=crlf)).signing_secret == rsa_pem.strip()
    # Too small on purpose: the check must refuse it.
    small = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))  # noqa: S505
    assert field_of(v.check_deployment, deployment(**rs, signing_secret=small)) == "signing_secret"
    ec_key = pem(ec.generate_private_key(ec.SECP256R1()))
    assert field_of(v.check_deployment, deployment(**rs, signing_secret=ec_key)) == "signing_secret"


def test_secret_references_are_accepted_unresolved():
    out = v.check_deployment(
        deployment(
            algorithm="RS256",
            key_id="k",
            signing_secret="file:/run/secrets/jitsi.pem",
            webhook_secret="env:JITSI_HOOK",
        )
    )
    assert out.signing_secret == "file:/run/secrets/jitsi.pem"
    assert out.webhook_secret == "env:JITSI_HOOK"


def test_deployment_values_never_show_secrets_in_repr():
    text = repr(deployment(signing_secret="x" * 40, webhook_secret="y" * 20))
    assert "x" * 40 not in text
    assert "y" * 20 not in text
