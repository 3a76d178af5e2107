"""A stand-in for the vendor's support endpoint: it receives failure reports (U12).

It refuses the first report with 503, as a busy desk would, so the demo shows the
orchestrator retrying until the report is accepted.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SupportDesk(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, refuse_first: int = 1) -> None:
        self.reports: list[dict[str, Any]] = []
        self.refusals_left = refuse_first
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)
        self.thread = threading.Thread(target=self.serve_forever, name="support-desk",
                                       daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/reports"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: SupportDesk

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            if self.server.refusals_left > 0:
                self.server.refusals_left -= 1
                status = HTTPStatus.SERVICE_UNAVAILABLE
            else:
                self.server.reports.append(json.loads(body or b"{}"))
                status = HTTPStatus.CREATED
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()
