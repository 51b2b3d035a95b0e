"""Shared fixtures: the real server (node, demo model) on loopback for the client tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules").is_dir():
        pytest.skip("the server needs node and node_modules (npm ci)")
    process = subprocess.Popen(
        [
            node,
            "--import",
            "tsx",
            "src/cli.ts",
            "serve",
            "--port",
            "0",
            "--host",
            "127.0.0.1",
            "--max-new-tokens",
            "64",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = ""
    assert process.stdout is not None
    for line in process.stdout:
        entry = json.loads(line) if line.startswith("{") else {}
        if str(entry.get("msg", "")).startswith("listening"):
            url = entry["url"]
        if entry.get("msg") == "ready":
            break
    else:
        pytest.fail("the server ended before it was ready")
    # Keep reading its log, so a full pipe never blocks the server.
    threading.Thread(target=process.stdout.read, daemon=True).start()
    try:
        yield url
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0
