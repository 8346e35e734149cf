"""Checks and normalisations for what coordinators type in, shared by pages, API and CSV import.

Every check either returns the normalised value or raises ``InvalidInput`` naming the field, so a
form can point at the field and the API can name it. Nothing here touches the database; checks
that need it (uniqueness, ownership) live in ``services``.

Two decisions are encoded here and documented where people meet them:

* **Group languages** are family languages and may be any ISO 639-1 code that CLDR knows (184
  codes: Tigrinya ``ti``, Kurdish ``ku``, Albanian ``sq`` ...); languages without a two-letter
  code are given by their macrolanguage (Dari as ``fa``). A *parent's* language is their
  interface language and must be one of the ten languages our parent pages are translated into.
* **Phone numbers** are normalised to E.164 (``+491711234567``), the form SMS gateways take;
  national numbers without a country code are read as German.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence
from typing import cast
from urllib.parse import urlsplit

from babel import Locale
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from integrations.jitsi import tokens
from orchestrator.errors import InvalidInput
from orchestrator.i18n import gettext
from orchestrator.models import DEPLOYMENT_KINDS, PARENT_LANGUAGES

__all__ = [
    "GROUP_LANGUAGE_CODES",
    "JAAS_BASE_URL",
    "JAAS_DOMAIN",
    "MAX_GROUP_LANGUAGES",
    "MAX_REMINDER_OFFSETS",
    "DeploymentValues",
    "check_deployment",
    "consent_flag",
    "contact_with_consent",
    "cycle",
    "display_name",
    "email",
    "group_languages",
    "int_in_range",
    "is_secret_reference",
    "language_name",
    "parent_language",
    "phone",
    "reminder_offsets",
    "slug",
    "text",
]

# Two-letter codes as CLDR (through Babel) knows them: ISO 639-1, each with a name in every
# staff language, so a group's languages can always be shown by name.
GROUP_LANGUAGE_CODES: frozenset[str] = frozenset(
    code
    for code in Locale("en").languages
    if isinstance(code, str) and len(code) == 2 and code.isalpha() and code.islower()
)
MAX_GROUP_LANGUAGES = 10
MAX_REMINDER_OFFSETS = 5
# Reminders earlier than two weeks ahead are noise; later than five minutes ahead are too late.
REMINDER_MIN_MINUTES = 5
REMINDER_MAX_MINUTES = 14 * 24 * 60
# A cycle is one KiTa year; two years leaves room for odd cycles and still catches typos (2062).
MAX_CYCLE_DAYS = 2 * 366
JAAS_DOMAIN = "8x8.vc"
JAAS_BASE_URL = "https://8x8.vc"
# A webhook secret is what keeps forged attendance out; short ones are guessable.
MIN_WEBHOOK_SECRET_LENGTH = 16

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n]")
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
# Separators people write in phone numbers; "(0)" is the German way of writing the trunk prefix
# after the country code ("+49 (0)171 ...") and must be dropped, not kept as a digit.
_PHONE_NOISE = re.compile(r"\(0\)|[\s\-/().]")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(\.{_LABEL})*")
_TENANT = re.compile(r"[a-z0-9][a-z0-9_-]{0,99}")
_KEY_ID = re.compile(r"[A-Za-z0-9._:-]{1,200}")
_ENV_REFERENCE = re.compile(r"env:[A-Za-z_][A-Za-z0-9_]{0,127}")
_FILE_REFERENCE = re.compile(r"file:/[^\x00\r\n]{1,1000}")
_TRUE = frozenset({"1", "true", "yes", "y", "ja", "j", "x", "✓", "✔", "on"})
_FALSE = frozenset({"", "0", "false", "no", "n", "nein", "off", "-"})


def _unstorable(value: str, *, multiline: bool = False) -> bool:
    """Control characters (PostgreSQL refuses NUL in text) or lone surrogates (not encodable)."""
    if _CONTROL.search(value) or (not multiline and _LINE_BREAK.search(value)):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text(
    value: str, *, field: str, max_length: int = 200, required: bool = True, multiline: bool = False
) -> str:
    """Trimmed text without control characters (PostgreSQL refuses NUL; names never need them)."""
    value = value.strip()
    if required and not value:
        raise InvalidInput(gettext("This field must not be empty."), field=field)
    if len(value) > max_length:
        raise InvalidInput(gettext("At most %(n)d characters, please.") % {"n": max_length}, field=field)
    if _unstorable(value, multiline=multiline):
        raise InvalidInput(gettext("This field contains control characters."), field=field)
    return value


def display_name(value: str, *, field: str = "display_name") -> str:
    """A parent's name as chosen with them: a first name or a pseudonym is fine."""
    return text(value, field=field, max_length=200)


def slug(value: str, *, field: str = "slug") -> str:
    value = value.strip()
    if not _SLUG.fullmatch(value):
        raise InvalidInput(
            gettext("Use lowercase letters, digits and '-' (at most 63, starting with a letter or digit)."),
            field=field,
        )
    return value


def int_in_range(value: int, low: int, high: int, *, field: str) -> int:
    # bool is an int in Python; a checkbox value must not pass as a number of minutes.
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(
            gettext("Give a whole number from %(low)d to %(high)d.") % {"low": low, "high": high}, field=field
        )
    return value


def parent_language(code: str, *, field: str = "language") -> str:
    """One of the ten languages parent pages, feeds and messages are written in."""
    code = code.strip().lower()
    if code not in PARENT_LANGUAGES:
        raise InvalidInput(
            gettext("Choose one of the parent languages: %(codes)s.")
            % {"codes": ", ".join(PARENT_LANGUAGES)},
            field=field,
        )
    return code


def group_languages(codes: Sequence[str], *, field: str = "languages") -> list[str]:
    """One to ten ISO 639-1 codes, lowercased, duplicates dropped, order kept."""
    result: list[str] = []
    for raw in codes:
        code = raw.strip().lower()
        if not code:
            continue
        if code not in GROUP_LANGUAGE_CODES:
            raise InvalidInput(
                gettext("'%(code)s' is not a two-letter ISO 639-1 language code (e.g. tr, ar, ku, ti).")
                % {"code": raw.strip()[:20]},
                field=field,
            )
        if code not in result:
            result.append(code)
    if not result:
        raise InvalidInput(gettext("A group needs at least one group language."), field=field)
    if len(result) > MAX_GROUP_LANGUAGES:
        raise InvalidInput(
            gettext("At most %(n)d group languages, please.") % {"n": MAX_GROUP_LANGUAGES}, field=field
        )
    return result


def language_name(code: str, locale: str) -> str:
    """The name of a language code in the staff language ``locale`` ("tr" -> "Türkisch")."""
    name = Locale.parse(locale).languages.get(code)
    return name if isinstance(name, str) else code


def email(value: str | None, *, field: str = "email") -> str | None:
    """An e-mail address with its domain lowercased, or None when empty."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 254 or not _EMAIL.fullmatch(value) or _unstorable(value):
        raise InvalidInput(gettext("This is not an e-mail address."), field=field)
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def phone(value: str | None, *, field: str = "phone") -> str | None:
    """A phone number in E.164 (``+491711234567``), or None when empty.

    "0171 1234567" is read as German (+49); "0049 ..." and "+49 (0)171 ..." are understood.
    """
    value = (value or "").strip()
    if not value:
        return None
    digits = _PHONE_NOISE.sub("", value)
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    elif digits.startswith("0"):
        digits = "+49" + digits[1:]
    if not _E164.fullmatch(digits):
        raise InvalidInput(
            gettext("This is not a phone number; write it like 0171 1234567 or +49 171 1234567."), field=field
        )
    return digits


def contact_with_consent(
    *, phone: str | None, sms_consent: bool, email: str | None, email_consent: bool
) -> None:
    """Contact data is kept only together with consent to its channel.

    Data minimisation (GDPR Art. 5(1)(c), domain.md): a phone number or e-mail address serves
    only to send reminders, and those go out only with the parent's consent, so without consent
    there is no purpose for storing the contact at all. Withdrawing consent therefore erases the
    contact (see ``services.update_parent``).
    """
    if phone and not sms_consent:
        raise InvalidInput(
            gettext(
                "A phone number is stored only with the parent's consent to SMS reminders: "
                "record the consent or leave the number empty."
            ),
            field="sms_consent",
        )
    if sms_consent and not phone:
        raise InvalidInput(gettext("SMS consent needs a phone number."), field="phone")
    if email and not email_consent:
        raise InvalidInput(
            gettext(
                "An e-mail address is stored only with the parent's consent to e-mail reminders: "
                "record the consent or leave the address empty."
            ),
            field="email_consent",
        )
    if email_consent and not email:
        raise InvalidInput(gettext("E-mail consent needs an e-mail address."), field="email")


def consent_flag(value: str, *, field: str) -> bool:
    """A yes/no cell of a spreadsheet: yes/ja/true/1/x, or no/nein/false/0/empty."""
    folded = value.strip().casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise InvalidInput(gettext("Write yes or no (ja/nein, 1/0)."), field=field)


def cycle(start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
    if end < start:
        raise InvalidInput(gettext("The cycle cannot end before it starts."), field="cycle_end")
    if (end - start).days > MAX_CYCLE_DAYS:
        raise InvalidInput(gettext("A cycle lasts at most two years; check the dates."), field="cycle_end")
    return start, end


def reminder_offsets(values: Sequence[int], *, field: str = "reminder_offsets") -> list[int]:
    """Minutes before a session at which reminders go out, distinct, largest first."""
    if len(values) > MAX_REMINDER_OFFSETS:
        raise InvalidInput(
            gettext("At most %(n)d reminder times, please.") % {"n": MAX_REMINDER_OFFSETS}, field=field
        )
    offsets = {int_in_range(v, REMINDER_MIN_MINUTES, REMINDER_MAX_MINUTES, field=field) for v in values}
    return sorted(offsets, reverse=True)


def is_secret_reference(value: str) -> bool:
    """``env:NAME`` or ``file:/path``: the secret is resolved where it is used, not stored here."""
    return value.startswith(("env:", "file:"))


@dataclasses.dataclass
class DeploymentValues:
    """Everything a Jitsi deployment is configured with (secrets included: handle with care)."""

    kind: str
    slug: str
    name: str
    domain: str
    base_url: str
    tenant: str | None
    app_id: str
    algorithm: str
    key_id: str | None
    signing_secret: str = dataclasses.field(repr=False)
    webhook_secret: str = dataclasses.field(repr=False)
    token_in_query: bool


def check_deployment(v: DeploymentValues) -> DeploymentValues:
    """The normalised deployment, or ``InvalidInput`` for the first field that is wrong.

    The rules are the token library's (``integrations.jitsi.tokens.Deployment``), checked here
    field by field so that a form can say which field is wrong; a literal signing secret is then
    also run through the library itself, so that a deployment saved here can mint tokens.
    """
    if v.kind not in DEPLOYMENT_KINDS:
        raise InvalidInput(gettext("Choose self_hosted or jaas."), field="kind")
    jaas = v.kind == "jaas"
    out = DeploymentValues(
        kind=v.kind,
        slug=slug(v.slug),
        name=text(v.name, field="name"),
        domain=v.domain.strip().lower() or (JAAS_DOMAIN if jaas else ""),
        base_url=v.base_url.strip().rstrip("/"),
        tenant=v.tenant.strip() if v.tenant and v.tenant.strip() else None,
        app_id=v.app_id.strip(),
        algorithm=v.algorithm,
        key_id=v.key_id.strip() if v.key_id and v.key_id.strip() else None,
        signing_secret=v.signing_secret.replace("\r\n", "\n").strip(),
        webhook_secret=v.webhook_secret.strip(),
        token_in_query=v.token_in_query,
    )
    if not _HOSTNAME.fullmatch(out.domain):
        raise InvalidInput(gettext("Give the host name, like meet.example.org."), field="domain")
    if not out.base_url:
        out.base_url = JAAS_BASE_URL if jaas else f"https://{out.domain}"
    _check_base_url(out.base_url)
    if out.tenant is not None and (jaas or not _TENANT.fullmatch(out.tenant.lower())):
        raise InvalidInput(
            gettext("JaaS has no tenant.")
            if jaas
            else gettext("A tenant is lowercase letters, digits, '-' and '_' (at most 100)."),
            field="tenant",
        )
    if not out.app_id or len(out.app_id) > 200 or re.search(r"\s", out.app_id) or _unstorable(out.app_id):
        raise InvalidInput(gettext("Give the app id (no spaces, at most 200 characters)."), field="app_id")
    if jaas and not out.app_id.startswith(tokens.JAAS_APP_ID_PREFIX):
        raise InvalidInput(
            gettext("A JaaS app id starts with %(prefix)s.") % {"prefix": tokens.JAAS_APP_ID_PREFIX},
            field="app_id",
        )
    if out.algorithm not in ("HS256", "RS256"):
        raise InvalidInput(gettext("Choose HS256 or RS256."), field="algorithm")
    if jaas and out.algorithm != "RS256":
        raise InvalidInput(gettext("JaaS only accepts RS256 tokens."), field="algorithm")
    if jaas and out.key_id and out.key_id.startswith(out.app_id + "/"):
        # The JaaS console shows the key as "<AppID>/<keyId>"; the library adds the AppID itself.
        out.key_id = out.key_id[len(out.app_id) + 1 :] or None
    if out.key_id is not None and not _KEY_ID.fullmatch(out.key_id):
        raise InvalidInput(gettext("A key id is letters, digits and . _ : - (at most 200)."), field="key_id")
    if out.algorithm == "RS256" and not out.key_id:
        raise InvalidInput(gettext("RS256 needs the key id (the token header's kid)."), field="key_id")
    _check_signing_secret(out)
    _check_webhook_secret(out.webhook_secret)
    return out


def _check_base_url(base_url: str) -> None:
    parts = urlsplit(base_url)
    if (
        len(base_url) > 500
        or parts.scheme != "https"
        or not parts.hostname
        or parts.query
        or parts.fragment
        or parts.username
        or parts.password
        or _unstorable(base_url)
    ):
        raise InvalidInput(
            gettext("Give an https:// address without query or credentials, like https://meet.example.org."),
            field="base_url",
        )


def _check_reference(value: str, field: str) -> None:
    if not (_ENV_REFERENCE.fullmatch(value) or _FILE_REFERENCE.fullmatch(value)):
        raise InvalidInput(
            gettext("A reference is env:VARIABLE_NAME or file:/absolute/path."),
            field=field,
        )


def _check_signing_secret(v: DeploymentValues) -> None:
    field = "signing_secret"
    secret = v.signing_secret
    if not secret:
        raise InvalidInput(gettext("The deployment needs a signing secret."), field=field)
    if is_secret_reference(secret):
        _check_reference(secret, field)
        return
    if len(secret) > 20_000 or _unstorable(secret, multiline=True):
        raise InvalidInput(
            gettext("This signing secret is far too long or contains control characters."), field=field
        )
    if v.algorithm == "RS256":
        _check_rsa_private_key(secret)
    elif len(secret.encode("utf-8")) < tokens.MIN_HS256_SECRET_BYTES:
        raise InvalidInput(
            gettext("An HS256 secret needs at least %(n)d bytes.") % {"n": tokens.MIN_HS256_SECRET_BYTES},
            field=field,
        )
    try:
        tokens.Deployment(
            kind=cast(tokens.DeploymentKind, v.kind),
            domain=v.domain,
            base_url=v.base_url,
            tenant=v.tenant,
            app_id=v.app_id,
            algorithm=cast(tokens.SigningAlgorithm, v.algorithm),
            key_id=v.key_id,
            signing_secret=secret,
            token_in_query=v.token_in_query,
        )
    except ValueError as e:
        # The field checks above mirror the library; this catches any rule added there later.
        raise InvalidInput(str(e), field=field) from None


def _check_rsa_private_key(pem: str) -> None:
    field = "signing_secret"
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        raise InvalidInput(
            gettext("RS256 needs an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----)."), field=field
        ) from None
    if not isinstance(key, RSAPrivateKey):
        raise InvalidInput(gettext("RS256 needs an RSA key."), field=field)
    if key.key_size < tokens.MIN_RSA_KEY_BITS:
        raise InvalidInput(
            gettext("The RSA key has %(bits)d bits; at least %(min)d are needed.")
            % {"bits": key.key_size, "min": tokens.MIN_RSA_KEY_BITS},
            field=field,
        )


def _check_webhook_secret(secret: str) -> None:
    field = "webhook_secret"
    if not secret:
        return
    if is_secret_reference(secret):
        _check_reference(secret, field)
    elif len(secret) < MIN_WEBHOOK_SECRET_LENGTH or len(secret) > 1000 or _unstorable(secret):
        raise InvalidInput(
            gettext("A webhook secret has %(min)d to 1000 characters.") % {"min": MIN_WEBHOOK_SECRET_LENGTH},
            field=field,
        )
