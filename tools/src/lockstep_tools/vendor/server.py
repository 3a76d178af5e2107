"""A plain HTTP server for a vendor feed: ``metadata/`` and ``targets/`` only, with Range.

The watcher downloads packages resumably (``Range: bytes=N-`` → 206). ``keys/`` and anything
outside the two public folders answer 404. Good enough for demos and tests; a real vendor puts
the same two folders behind any static web server or CDN.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

PUBLIC_FOLDERS = ("metadata", "targets")
CHUNK = 1 << 16
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class FeedRequestHandler(BaseHTTPRequestHandler):
    """GET/HEAD of files under the public folders, honouring a single byte range."""

    server_version = "lockstep-vendor-feed"
    protocol_version = "HTTP/1.1"

    def __init__(self, *args: object, root: Path, **kwargs: object) -> None:
        self.root = root
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_HEAD(self) -> None:
        self._respond(head=True)

    def do_GET(self) -> None:
        self._respond(head=False)

    def _resolve(self) -> Path | None:
        parts = [p for p in unquote(urlsplit(self.path).path).split("/") if p]
        if not parts or parts[0] not in PUBLIC_FOLDERS or any(p in (".", "..") for p in parts):
            return None
        path = self.root.joinpath(*parts)
        return path if path.is_file() else None

    def _respond(self, *, head: bool) -> None:
        path = self._resolve()
        if path is None:
            self._send_plain(HTTPStatus.NOT_FOUND, b"not found\n", head)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        status = HTTPStatus.OK
        requested = self.headers.get("Range")
        if requested:
            match = _RANGE.match(requested.strip())
            if not match or match.groups() == ("", ""):
                self._send_plain(HTTPStatus.BAD_REQUEST, b"unsupported Range header\n", head)
                return
            first, last = match.groups()
            if first:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            else:
                start = max(0, size - int(last))
            if start >= size or start > end:
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = HTTPStatus.PARTIAL_CONTENT
        length = end - start + 1 if size else 0
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if head:
            return
        with path.open("rb") as f:
            f.seek(start)
            self.send_body(f, length)

    def send_body(self, f: BinaryIO, length: int) -> None:
        """Copy ``length`` bytes of ``f`` to the client (tests override it to inject faults)."""
        remaining = length
        while remaining > 0:
            chunk = f.read(min(CHUNK, remaining))
            if not chunk:
                break
            self.wfile.write(chunk)
            remaining -= len(chunk)

    def _send_plain(self, status: HTTPStatus, body: bytes, head: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


class FeedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        repo_dir: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        handler: type[FeedRequestHandler] = FeedRequestHandler,
    ) -> None:
        self.repo_dir = Path(repo_dir).resolve()
        super().__init__((host, port), partial(handler, root=self.repo_dir))

    def handle_error(self, request: object, client_address: object) -> None:
        """A client hanging up mid-download is normal (it resumes with Range): no traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("client %s disconnected", client_address)
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"


@contextmanager
def running_feed(
    repo_dir: Path | str,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    handler: type[FeedRequestHandler] = FeedRequestHandler,
) -> Iterator[FeedServer]:
    """Serve the feed in a background thread (port 0 = any free port) while inside."""
    server = FeedServer(repo_dir, host, port, handler=handler)
    thread = threading.Thread(target=server.serve_forever, name="vendor-feed", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
