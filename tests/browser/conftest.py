"""Browser tests: Playwright driving Debian's Chromium against the app running as a real server.

- Chromium is Debian's package (``/usr/bin/chromium``), never a Playwright download. When it is
  missing, the session fixture installs it with apt (as root); when that fails, the tests skip
  outside CI and fail in CI.
- The app runs as a real HTTP server (``aiohttp.web.AppRunner`` + ``TCPSite`` on 127.0.0.1, free
  port) in a thread with its own event loop, on an SQLite database prepared like every other test
  database. Browser tests run on SQLite only: they test pages and scripts, not storage.
- Jitsi is not reachable here, so a small HTTPS server with a throw-away certificate plays the
  Jitsi deployment, and Chromium resolves ``meet.example.org`` to it (``--host-resolver-rules``).
  Playwright's ``page.route`` cannot do this job: it does not see the requests that follow a
  redirect, and our join endpoints answer with a 303 into the room. The stand-in records the
  paths it was asked for, so tests can also check that the token (in the URL fragment) never
  reached the Jitsi server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import fcntl
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestrator.settings import Settings
from tests.conftest import skip_or_fail

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
JITSI_DOMAIN = "meet.example.org"
FAKE_JITSI_TITLE = "Jitsi Meet (test stand-in)"


def _install_chromium() -> None:
    if os.geteuid() != 0:
        skip_or_fail(f"{CHROMIUM} is missing and installing it needs root: apt-get install chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update"], check=True, env=env, timeout=900, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
            check=True,
            env=env,
            timeout=1800,
            capture_output=True,
        )
    except (OSError, subprocess.SubprocessError) as e:
        skip_or_fail(f"{CHROMIUM} is missing and `apt-get install chromium` failed: {e}")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium, installed with apt when missing."""
    if not CHROMIUM.exists():
        # Parallel test processes (pytest-xdist) must not run apt at the same time.
        with open("/tmp/rucksack-chromium-install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not CHROMIUM.exists():
                _install_chromium()
    if not CHROMIUM.exists():
        skip_or_fail(f"{CHROMIUM} is still missing after installing the chromium package")
    return CHROMIUM


@dataclasses.dataclass
class FakeJitsi:
    port: int
    paths: list[str]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, JITSI_DOMAIN)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(JITSI_DOMAIN)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "jitsi.crt", directory / "jitsi.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="session")
def fake_jitsi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeJitsi]:
    """An HTTPS server standing in for the Jitsi deployment at meet.example.org."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            body = f"<!doctype html><title>{FAKE_JITSI_TITLE}</title><p>room</p>".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

    cert, key = _self_signed(tmp_path_factory.mktemp("jitsi-tls"))
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="fake-jitsi", daemon=True)
    thread.start()
    yield FakeJitsi(port=server.server_address[1], paths=paths)
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture(scope="package")
def browser(chromium: Path, fake_jitsi: FakeJitsi) -> Iterator[Any]:
    """One Chromium for the browser tests (closed when they are done, before other packages run)."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        instance = playwright.chromium.launch(
            executable_path=str(chromium),
            args=[
                *CHROMIUM_ARGS,
                f"--host-resolver-rules=MAP {JITSI_DOMAIN}:443 127.0.0.1:{fake_jitsi.port}",
            ],
        )
    except Exception as e:  # a broken Chromium install: say so instead of a stack of Playwright internals
        playwright.stop()
        skip_or_fail(f"Chromium at {chromium} does not start: {e}")
    yield instance
    instance.close()
    playwright.stop()


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only (overrides the two-backend fixture): these tests are about pages and scripts."""
    path = tmp_path / "browser.sqlite3"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


class LiveServer:
    """The app on 127.0.0.1 in a thread with its own event loop."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)
        self.url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        runner = web.AppRunner(self._app, access_log=None)
        try:
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            host, port = runner.addresses[0][:2]
            self.url = f"http://{host}:{port}"
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())
        self._loop.close()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the app did not start within 30 s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)


@pytest.fixture
def live_server(settings: Settings, jobs: Any) -> Iterator[LiveServer]:
    from orchestrator.web.app import create_app

    server = LiveServer(create_app(settings, jobs=jobs))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (cookies, storage) per test; English UI, like most test browsers."""
    ctx = browser.new_context(ignore_https_errors=True, locale="en-US")
    ctx.set_default_timeout(15_000)
    yield ctx
    ctx.close()
