"""`rucksack serve` as operators start it: its own process, on uvloop, taking webhooks."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

RUCKSACK = [sys.executable, "-m", "orchestrator.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, "rucksack serve exited during start-up"
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        assert time.monotonic() < deadline, "rucksack serve did not answer /healthz"
        time.sleep(0.2)


def test_serve_takes_the_demo_webhooks_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RUCKSACK_DATA_DIR": str(tmp_path),
        "RUCKSACK_WEB_PORT": str(port),
        "RUCKSACK_WEB_BASE_URL": url,
        # The worker is not what this test is about; without it the events stay pending.
        "RUCKSACK_BROKER_EMBEDDED_WORKER": "false",
    }
    subprocess.run([*RUCKSACK, "demo"], env=env, check=True, capture_output=True, timeout=120)
    serve = subprocess.Popen([*RUCKSACK, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(url, serve)
        posted = subprocess.run(
            [*RUCKSACK, "demo-webhooks", "--url", url],
            env=env,
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        answers = [line.split()[0] for line in posted.stdout.splitlines() if line[:3].isdigit()]
        assert answers, posted.stdout
        assert set(answers) == {"200"}, posted.stdout
    finally:
        serve.send_signal(signal.SIGINT)
        output, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, output.decode(errors="replace")

    # Every acknowledged webhook is in the inbox, waiting for a worker.
    with sqlite3.connect(tmp_path / "rucksack.sqlite3") as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM conference_events GROUP BY state"))
    assert states == {"pending": len(answers)}
