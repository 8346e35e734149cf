"""Typed settings: packaged defaults, then a TOML file, then environment variables.

``config/defaults.toml`` holds every key with its default (the project is installed in
editable mode, so the file is read from the checkout). ``RUCKSACK_CONFIG`` may name a TOML file
that overrides any of them, and ``RUCKSACK_<SECTION>_<KEY>`` environment variables override
both. Secrets are read only from the environment (``RUCKSACK_MAIL_PASSWORD``) or from a file it
names (``RUCKSACK_MAIL_PASSWORD_FILE``), so they never sit in a committed file.

Any unknown key, wrong type or malformed value stops start-up with a message naming it.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_type_hints

__all__ = ["Settings", "SettingsError", "load_settings"]

ENV_PREFIX = "RUCKSACK_"
DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "config" / "defaults.toml"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what is expected."""


@dataclasses.dataclass(frozen=True)
class WebSettings:
    host: str
    port: int
    base_url: str
    secure_cookies: bool
    login_session_hours: int
    access_log: bool


@dataclasses.dataclass(frozen=True)
class DatabaseSettings:
    url: str
    echo: bool


@dataclasses.dataclass(frozen=True)
class BrokerSettings:
    url: str
    embedded_worker: bool


@dataclasses.dataclass(frozen=True)
class SecuritySettings:
    login_max_failures: int
    login_window_minutes: int


@dataclasses.dataclass(frozen=True)
class SessionSettings:
    join_window_minutes: int
    token_grace_minutes: int
    finalise_grace_minutes: int


@dataclasses.dataclass(frozen=True)
class MailSettings:
    host: str
    port: int
    starttls: bool
    ssl: bool
    username: str
    from_address: str
    password: str = dataclasses.field(default="", repr=False)


@dataclasses.dataclass(frozen=True)
class SmsSettings:
    url: str
    username: str
    sender: str
    body_template: str
    timeout_seconds: int
    password: str = dataclasses.field(default="", repr=False)


@dataclasses.dataclass(frozen=True)
class FeedSettings:
    rate_limit_per_minute: int


@dataclasses.dataclass(frozen=True)
class Settings:
    data_dir: str
    web: WebSettings
    database: DatabaseSettings
    broker: BrokerSettings
    security: SecuritySettings
    sessions: SessionSettings
    mail: MailSettings
    sms: SmsSettings
    feeds: FeedSettings

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    @property
    def database_url(self) -> str:
        """The configured URL, or the embedded SQLite file."""
        return self.database.url or f"sqlite:///{self.data_path / 'rucksack.sqlite3'}"

    @property
    def broker_url(self) -> str:
        return self.broker.url or f"sqla+sqlite:///{self.data_path / 'broker.sqlite3'}"

    @property
    def embedded(self) -> bool:
        """True when running on the embedded broker (no Redis or RabbitMQ server)."""
        return not self.broker.url

    def replace(self, **sections: Any) -> Settings:
        return dataclasses.replace(self, **sections)


# Secrets: (section, field) -> environment variable; "<VAR>_FILE" names a file holding it.
SECRETS = {("mail", "password"): "RUCKSACK_MAIL_PASSWORD", ("sms", "password"): "RUCKSACK_SMS_PASSWORD"}


def _coerce(name: str, raw: Any, target: type) -> Any:
    if target is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lower() in {"1", "true", "yes", "on"}:
            return True
        if isinstance(raw, str) and raw.lower() in {"0", "false", "no", "off", ""}:
            return False
        raise SettingsError(f"setting {name}: expected true or false, got {raw!r}")
    if target is int:
        if isinstance(raw, bool):
            raise SettingsError(f"setting {name}: expected a whole number, got {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise SettingsError(f"setting {name}: expected a whole number, got {raw!r}") from None
    if target is str:
        if not isinstance(raw, str):
            raise SettingsError(f"setting {name}: expected text, got {raw!r}")
        return raw
    raise SettingsError(f"setting {name}: unsupported type")  # pragma: no cover - programming error


def _merge(base: dict[str, Any], override: Mapping[str, Any], where: str) -> None:
    for key, value in override.items():
        if key not in base:
            raise SettingsError(f"unknown setting {key!r} in {where}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise SettingsError(f"setting {key!r} in {where} must be a table")
            _merge(base[key], value, f"{where} [{key}]")
        else:
            base[key] = value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise SettingsError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"configuration file {path} is not valid TOML: {e}") from None


def _secret(var: str, env: Mapping[str, str]) -> str:
    if var in env:
        return env[var]
    file_var = var + "_FILE"
    if file_var in env:
        try:
            return Path(env[file_var]).read_text().strip()
        except OSError as e:
            raise SettingsError(f"{file_var}: cannot read {env[file_var]}: {e.strerror}") from None
    return ""


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build the settings; ``overrides`` (section -> dict) win over everything (tests use them)."""
    env = os.environ if env is None else env
    data = _read_toml(DEFAULTS_FILE)
    if config := env.get(ENV_PREFIX + "CONFIG"):
        _merge(data, _read_toml(Path(config)), config)

    # Environment variables: RUCKSACK_DATA_DIR, RUCKSACK_WEB_PORT, ...
    for key, value in data.items():
        if isinstance(value, dict):
            for sub in value:
                var = f"{ENV_PREFIX}{key}_{sub}".upper()
                if var in env:
                    value[sub] = env[var]
        else:
            var = f"{ENV_PREFIX}{key}".upper()
            if var in env:
                data[key] = env[var]
    for section, values in overrides.items():
        _merge(data, {section: values}, "overrides")

    sections: dict[str, Any] = {}
    hints = get_type_hints(Settings)
    for field in dataclasses.fields(Settings):
        target: Any = hints[field.name]
        if isinstance(target, type) and dataclasses.is_dataclass(target):
            raw = data.get(field.name, {})
            kwargs = {}
            sub_hints = get_type_hints(target)
            for sub in dataclasses.fields(target):
                name = f"{field.name}.{sub.name}"
                if (field.name, sub.name) in SECRETS:
                    kwargs[sub.name] = _secret(SECRETS[(field.name, sub.name)], env)
                    continue
                if sub.name not in raw:
                    raise SettingsError(f"setting {name} is missing")
                kwargs[sub.name] = _coerce(name, raw[sub.name], sub_hints[sub.name])
            sections[field.name] = target(**kwargs)
        else:
            sections[field.name] = _coerce(field.name, data[field.name], target)
    settings = Settings(**sections)
    _validate(settings)
    return settings


def _validate(settings: Settings) -> None:
    if not 0 < settings.web.port < 65536:
        raise SettingsError(f"setting web.port: {settings.web.port} is not a TCP port")
    if not settings.web.base_url.startswith(("http://", "https://")):
        raise SettingsError("setting web.base_url must start with http:// or https://")
    url = settings.database.url
    if url and not url.startswith(("sqlite", "postgresql", "postgres://")):
        raise SettingsError(
            f"setting database.url: {url.split('://')[0]!r} is not supported; use sqlite:/// or postgresql://"
        )
    broker = settings.broker.url
    if broker and not broker.startswith(
        ("redis://", "rediss://", "amqp://", "amqps://", "sqla+", "memory://")
    ):
        raise SettingsError("setting broker.url must be a redis://, amqp:// or sqla+ URL")
    for name in ("join_window_minutes", "token_grace_minutes", "finalise_grace_minutes"):
        if getattr(settings.sessions, name) < 0:
            raise SettingsError(f"setting sessions.{name} must not be negative")
