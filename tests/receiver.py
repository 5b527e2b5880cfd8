"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 that records requests and answers as scripted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from orderledger.jsoncodec import loads_exact
from tests.waiting import wait_until

# A held request is released after this long at the latest, so no test can hang on it.
HOLD_LIMIT = 30.0


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    answered: int

    def json(self) -> Any:
        return loads_exact(self.body)


class Receiver:
    """Answers each request with the next scripted status (then `default`); can hold the first one until released."""

    def __init__(self, statuses: list[int] | None = None, default: int = 200, hold_first: bool = False) -> None:
        self.statuses, self.default = list(statuses or []), default
        self.requests: list[Received] = []
        self.hold_first = hold_first
        self.first_arrived, self.release = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_port}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The first `count` requests, waiting for them up to `timeout` seconds."""
        try:
            wait_until(lambda: len(self.requests) >= count, timeout, f"{count} requests")
        except AssertionError:
            raise AssertionError(f"the receiver got {len(self.requests)} requests, expected {count}, in {timeout}s") from None
        return self.requests[:count]

    def _next_status(self) -> tuple[int, bool]:
        with self._lock:
            hold = self.hold_first and not self.first_arrived.is_set()
            self.first_arrived.set()
            return (self.statuses.pop(0) if self.statuses else self.default), hold

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, hold = receiver._next_status()
                headers = {name.lower(): value for name, value in self.headers.items()}
                if hold:
                    receiver.release.wait(HOLD_LIMIT)
                with receiver._lock:
                    receiver.requests.append(Received(self.path, headers, body, status))
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "11")
                    self.end_headers()
                    self.wfile.write(b'{"ok":true}')
                except OSError:
                    pass  # the caller is gone (a killed worker)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def running_receiver(**options: Any) -> Iterator[Receiver]:
    receiver = Receiver(**options).start()
    try:
        yield receiver
    finally:
        receiver.stop()
