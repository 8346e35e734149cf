"""The ``rucksack`` command: serve, migrate, set up centres and users, tokens, the demo.

Every sub-command reads the same settings as the service (``RUCKSACK_*`` environment variables and
the TOML file named by ``RUCKSACK_CONFIG``); a malformed setting stops it with a clear message.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import getpass
import logging
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator import i18n
from orchestrator.db import make_sync_engine, sync_sessions, transaction
from orchestrator.errors import DomainError
from orchestrator.settings import Settings, SettingsError, load_settings

__all__ = ["main"]

T = TypeVar("T")
_LOGGER = logging.getLogger("rucksack")


class CommandError(Exception):
    """Ends the command with this message and exit status 2."""


def _with_db(settings: Settings, fn: Callable[[Session], T]) -> T:
    engine = make_sync_engine(settings.database_url)
    try:
        with transaction(sync_sessions(engine)) as db:
            return fn(db)
    finally:
        engine.dispose()


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> None:
    from orchestrator.migrate import upgrade

    upgrade(settings.database_url)
    print(f"database is at the newest schema ({_safe_url(settings.database_url)})")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_create_centre(settings: Settings, args: argparse.Namespace) -> None:
    from orchestrator.accounts.services import create_centre

    centre = _with_db(
        settings,
        lambda db: create_centre(
            db, name=args.name, slug=args.slug, default_language=args.language, municipality=args.municipality
        ),
    )
    print(f"created centre {centre.slug!r} (id {centre.id})")


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new user's password and whether it was generated (and so must be printed)."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    if os.environ.get("RUCKSACK_NEW_PASSWORD"):
        return os.environ["RUCKSACK_NEW_PASSWORD"], False
    if sys.stdin.isatty():
        first = getpass.getpass("Password (at least 10 characters): ")
        if first != getpass.getpass("Repeat the password: "):
            raise CommandError("the passwords differ")
        return first, False
    return secrets.token_urlsafe(12), True


def cmd_create_user(settings: Settings, args: argparse.Namespace) -> None:
    from orchestrator.accounts.services import create_user
    from orchestrator.models import Centre

    password, generated = _read_password(args)

    def create(db: Session) -> Any:
        centre_id = None
        if args.centre:
            centre_id = db.scalar(select(Centre.id).where(Centre.slug == args.centre))
            if centre_id is None:
                raise CommandError(f"no centre with slug {args.centre!r} (see rucksack create-centre)")
        return create_user(
            db,
            email=args.email,
            display_name=args.name,
            role=args.role,
            password=password,
            centre_id=centre_id,
            language=args.language,
        )

    user = _with_db(settings, create)
    print(f"created {user.role} {user.email} (id {user.id})")
    if generated:
        print(f"password: {password}")


def cmd_token_create(settings: Settings, args: argparse.Namespace) -> None:
    from orchestrator.accounts.services import create_api_token
    from orchestrator.models import StaffUser

    def create(db: Session) -> str:
        user_id = db.scalar(select(StaffUser.id).where(StaffUser.email == args.email.strip().lower()))
        if user_id is None:
            raise CommandError(f"no user with e-mail {args.email!r}")
        expires = (
            dt.datetime.now(dt.UTC) + dt.timedelta(days=args.expires_days) if args.expires_days else None
        )
        _, token = create_api_token(
            db, user_id=user_id, name=args.name, scopes=args.scopes.split(","), expires_at=expires
        )
        return token

    token = _with_db(settings, create)
    print(token)


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    from orchestrator.demo import create_demo
    from orchestrator.migrate import upgrade

    upgrade(settings.database_url)
    result = _with_db(settings, lambda db: create_demo(db, settings))
    print(result)


def cmd_demo_webhooks(settings: Settings, args: argparse.Namespace) -> None:
    import urllib.error
    import urllib.request

    from orchestrator.demo import demo_event_stream

    try:
        prefix, secret, events = _with_db(settings, demo_event_stream)
    except LookupError as e:
        raise CommandError(str(e)) from None
    base = (args.url or settings.web.base_url).rstrip("/")
    for endpoint, body in events:
        request = urllib.request.Request(  # noqa: S310 - the operator's own service URL
            f"{base}{prefix}/events/{endpoint}",
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as e:
            status = e.code
        except urllib.error.URLError as e:
            raise CommandError(f"cannot reach {base}: {e.reason} (is `rucksack serve` running?)") from None
        print(f"{status} {endpoint}")
    print(
        "Posted. The worker turns them into attendance within seconds: see the session's attendance page\n"
        "(group page -> Attendance -> the session's date). Corrections can be made there once the\n"
        "session has started; until then a parent can only be excused."
    )


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    from orchestrator.web import server
    from orchestrator.web.access_log import RedactingAccessLogger
    from orchestrator.web.app import create_app

    host = args.host or settings.web.host
    port = args.port or settings.web.port
    children: list[subprocess.Popen[bytes]] = []
    if settings.embedded:
        # The embedded default keeps its schema current by itself; production runs `rucksack migrate`.
        from orchestrator.migrate import upgrade

        settings.data_path.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
        if settings.broker.embedded_worker:
            children = _start_embedded_workers(settings)
    access_log = logging.getLogger("aiohttp.access") if settings.web.access_log else None
    print(f"Rucksack is listening on http://{host}:{port} (public URL {settings.web.base_url})", flush=True)
    try:
        server.run(
            create_app(settings),
            host=host,
            port=port,
            access_log=access_log,
            access_log_class=RedactingAccessLogger,
            print=None,
        )
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


def _start_embedded_workers(settings: Settings) -> list[subprocess.Popen[bytes]]:
    """A worker and beat on the embedded broker, as child processes of ``serve``."""
    env = dict(os.environ)
    env["RUCKSACK_DATA_DIR"] = str(settings.data_path)
    env["RUCKSACK_DATABASE_URL"] = settings.database_url
    base = [sys.executable, "-m", "celery", "-A", "workers.app"]
    worker = subprocess.Popen(
        [*base, "worker", "--pool=solo", "--loglevel=INFO", "--without-gossip", "--without-mingle"], env=env
    )
    beat = subprocess.Popen([*base, "beat", "--loglevel=INFO"], env=env)
    return [worker, beat]


def _cli_label() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"command line ({user})"


def cmd_export_parent(settings: Settings, args: argparse.Namespace) -> None:
    import json

    from orchestrator.privacy.services import export_parent

    data = _with_db(
        settings, lambda db: export_parent(db, actor=None, parent_id=args.parent_id, actor_label=_cli_label())
    )
    text = json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    if args.output and args.output != "-":
        # The file holds personal data: readable by its owner only.
        fd = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"exported parent {args.parent_id} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def cmd_erase_parent(settings: Settings, args: argparse.Namespace) -> None:
    from orchestrator.privacy.services import erase_parent

    if not args.yes:
        raise CommandError("erasure cannot be undone; add --yes to confirm")
    result = _with_db(
        settings, lambda db: erase_parent(db, actor=None, parent_id=args.parent_id, actor_label=_cli_label())
    )
    if result.already_erased:
        print(
            f"parent {result.parent_id} had been erased before; "
            f"remaining attendance anonymised: {result.counts}"
        )
    else:
        print(f"erased parent {result.parent_id}: {result.counts}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rucksack",
        description="Rucksack Orchestrator: digital group sessions of Rucksack KiTa on Jitsi. "
        "Settings come from RUCKSACK_* environment variables and the TOML file named by RUCKSACK_CONFIG.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "serve",
        help="run the web service (embedded mode: also a worker and beat)",
        description="Runs the web service. With no broker configured (the embedded default) "
        "it also migrates the SQLite database and starts a Celery worker and beat as child processes.",
    )
    p.add_argument("--host", help="address to listen on (default: web.host)")
    p.add_argument("--port", type=int, help="port to listen on (default: web.port)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "migrate",
        help="bring the database schema to the newest version",
        description="Applies all Alembic migrations to the configured database.",
    )
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("create-centre", help="create a centre (KI)", description="Creates a centre (KI).")
    p.add_argument("--name", required=True, help='e.g. "KI Stadt Beispiel"')
    p.add_argument("--slug", required=True, help="short lowercase id, e.g. ki-beispiel")
    p.add_argument("--language", default="de", help="default language (de, en, tr, ar, ...)")
    p.add_argument("--municipality", default="", help="municipality, for anonymous statistics")
    p.set_defaults(func=cmd_create_centre)

    p = sub.add_parser(
        "create-user",
        help="create a staff user",
        description="Creates an admin, coordinator or facilitator. The password is read from "
        "--password-stdin, RUCKSACK_NEW_PASSWORD, an interactive prompt, or generated and printed.",
    )
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True, help="display name")
    p.add_argument("--role", required=True, choices=["admin", "coordinator", "facilitator"])
    p.add_argument("--centre", help="centre slug (not for admins)")
    p.add_argument("--language", default="de", choices=["de", "en"])
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=cmd_create_user)

    p = sub.add_parser("token", help="API tokens", description="Manages API bearer tokens.")
    token_sub = p.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    t = token_sub.add_parser(
        "create",
        help="create an API token for a user and print it",
        description="Creates a bearer token for the JSON API (/api/v1) acting as the user. "
        "The token is printed once and stored only as a hash.",
    )
    t.add_argument("--email", required=True, help="the user the token acts as")
    t.add_argument("--name", required=True, help="what uses the token, e.g. 'funding report export'")
    t.add_argument("--scopes", default="read", help="comma-separated: read, write (default: read)")
    t.add_argument("--expires-days", type=int, help="expire after this many days")
    t.set_defaults(func=cmd_token_create)

    p = sub.add_parser(
        "demo",
        help="create demo data and print how to log in",
        description="Creates a demo centre with a Jitsi deployment, a coordinator, a facilitator, "
        "a group with parents and a weekly series, and prints the links to log in. Safe to run twice.",
    )
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "demo-webhooks",
        help="post a recorded Jitsi event stream for the demo's current session",
        description="Posts prosody event_sync webhooks (room created, joins with a reconnect, leaves, room "
        "destroyed) for the demo group's current or next session to the running service, as a self-hosted "
        "Jitsi would. Attendance then appears on the session's attendance page.",
    )
    p.add_argument("--url", help="the service's base URL (default: web.base_url)")
    p.set_defaults(func=cmd_demo_webhooks)

    p = sub.add_parser(
        "export-parent",
        help="export everything held about one parent as JSON (right of access)",
        description="Prints (or writes to --output) a JSON document with everything the service "
        "holds about one parent: record, enrolments, attendance, presence, notifications, link "
        "metadata and audit entries. The export is recorded in the audit trail.",
    )
    p.add_argument("--parent-id", type=int, required=True, help="the parent's id (see the parent's page)")
    p.add_argument("--output", help="file to write (mode 600); default: standard output")
    p.set_defaults(func=cmd_export_parent)

    p = sub.add_parser(
        "erase-parent",
        help="erase a parent's personal data (right to erasure); attendance counts stay",
        description="Irreversibly anonymises one parent: name, contact data, links, notifications, "
        "raw events and the pseudonym go; attendance rows stay without the person. Audited.",
    )
    p.add_argument("--parent-id", type=int, required=True, help="the parent's id")
    p.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    p.set_defaults(func=cmd_erase_parent)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    # Alembic narrates every plugin and step at INFO; the CLI prints its own one-line result.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # The administrative commands speak English, as their own output does, so a refusal from a
    # use case (which speaks the current language, German by default) reads the same. The service
    # and the demo keep the default: each request and message chooses its own language.
    language = contextlib.nullcontext() if args.func in (cmd_serve, cmd_demo) else i18n.language_scope("en")
    try:
        settings = load_settings()
        with language:
            args.func(settings, args)
    except SettingsError as e:
        print(f"rucksack: configuration error: {e}", file=sys.stderr)
        return 2
    except (CommandError, DomainError) as e:
        print(f"rucksack: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
