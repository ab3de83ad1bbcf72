"""A JSON HTTP server on loopback, in a thread: the skeleton of the fake platform APIs."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# (method, path, query, lower-cased headers, body) -> (status, JSON answer, extra response headers).
# A JSON body is parsed; any other body is {"_bytes": its length, "_multipart": whether it is multipart}.
Handle = Callable[[str, str, dict[str, str], dict[str, str], dict[str, Any]],
                  tuple[int, dict[str, Any], dict[str, str]]]


class LoopbackServer(ThreadingHTTPServer):
    """A threading HTTP server for the fakes, with a listen backlog that many senders at once do not overflow.

    socketserver's default backlog is 5: sixteen or more sending threads connecting at once on a loaded
    machine saw connection resets, which made a send fail and wait for a retry the test's fixed clock
    never reaches.
    """

    request_queue_size = 128
    daemon_threads = True


@contextmanager
def json_server(handle: Handle) -> Iterator[LoopbackServer]:
    """Serve GET, POST, PATCH and PUT with `handle` until the block ends (a handle may sleep to answer slowly;
    a client that gave up waiting by then is not an error)."""

    class Handler(BaseHTTPRequestHandler):
        def _go(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body: dict[str, Any] = {}
            ctype = self.headers.get("Content-Type", "")
            if raw and "json" in ctype:
                body = json.loads(raw)
            elif raw:
                body = {"_bytes": len(raw), "_multipart": "multipart" in ctype}
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, answer, extra = handle(method, parts.path, query, headers, body)
            data = json.dumps(answer, ensure_ascii=False).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up waiting
                pass

        def do_GET(self) -> None:  # noqa: N802
            self._go("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._go("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._go("PATCH")

        def do_PUT(self) -> None:  # noqa: N802
            self._go("PUT")

        def log_message(self, *args: Any) -> None:
            pass

    server = LoopbackServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
