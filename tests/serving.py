"""Real `inbox serve` processes for tests: start one in a folder, wait until it answers /healthz,
stop it and read what it printed."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx


def start_serve(folder: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "inbox.cli", "serve", "--port", str(port)],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_healthy(base: str, proc: subprocess.Popen[str], within: float = 30) -> None:
    """Poll `base`/healthz until 200 (the process dying first fails with what it printed)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become healthy")


def stop_serve(proc: subprocess.Popen[str], within: float = 20) -> str:
    """SIGTERM, then everything it printed."""
    proc.terminate()
    out, _ = proc.communicate(timeout=within)
    return out
