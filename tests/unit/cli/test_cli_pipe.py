"""``lockstep … | head``: a reader that stops early ends the command quietly (no traceback),
against a small local HTTP server standing in for the admin API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

LOCKSTEP = Path(sys.executable).parent / "lockstep"
SITES = [{"site_id": f"shop-{i}", "name": f"Shop {i}", "check_interval_s": 14400,
          "products": [{"product": "shop", "version": "03.01.00_030"}],
          "entitlement": None} for i in range(3000)]


class _Api(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(SITES).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return  # quiet


@pytest.fixture
def api_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_closed_pipe_prints_no_traceback(api_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "LOCKSTEP_URL": api_url, "LOCKSTEP_TOKEN": "t",
           "HOME": str(tmp_path)}
    process = subprocess.Popen([str(LOCKSTEP), "sites", "list"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # `| head` that has read enough: nobody reads the table
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)
    assert stderr == "", stderr
    assert process.returncode == 141  # as a shell reports a command ended by SIGPIPE
