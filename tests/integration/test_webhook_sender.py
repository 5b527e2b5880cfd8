"""The outbound call: aimed at the checked address, bounded in time and in what it reads."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orderledger.automation.sender import MAX_RESPONSE_BYTES, send
from orderledger.automation.target_policy import Target

pytestmark = pytest.mark.integration


@contextmanager
def server(answer) -> Iterator[tuple[int, list[dict[str, str]]]]:  # noqa: ANN001
    """A local server calling `answer(handler)` for each POST; yields its port and the headers it saw."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append({k.lower(): v for k, v in self.headers.items()})
            try:
                answer(self)
            except OSError:
                pass

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.server_port, seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def ok(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "2")
    handler.end_headers()
    handler.wfile.write(b"ok")


def test_a_named_host_is_called_at_its_checked_address_with_its_own_name_as_host():
    with server(ok) as (port, seen):
        # The name stands for whatever DNS said when it was checked; the call must not look it up again.
        target = Target(f"http://receiver.invalid:{port}/hook", "http", "receiver.invalid", port, ("127.0.0.1",))
        result = send(target, b"{}", {"X-Test": "1"}, timeout=5)
    assert (result.status_code, result.error, result.excerpt) == (200, None, "ok")
    assert seen[0]["host"] == f"receiver.invalid:{port}" and seen[0]["x-test"] == "1"


def test_a_huge_answer_is_read_only_up_to_the_bound():
    def huge(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(50 * MAX_RESPONSE_BYTES))
        handler.end_headers()
        for _ in range(50):
            handler.wfile.write(b"x" * MAX_RESPONSE_BYTES)

    with server(huge) as (port, _):
        result = send(Target(f"http://127.0.0.1:{port}/", "http", "127.0.0.1", port, ("127.0.0.1",)), b"{}", {}, timeout=5)
    assert result.status_code == 200 and len(result.excerpt) <= 500


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout_not_a_hang():
    release = threading.Event()

    def silent(handler: BaseHTTPRequestHandler) -> None:
        release.wait(10)

    with server(silent) as (port, _):
        started = time.monotonic()
        result = send(Target(f"http://127.0.0.1:{port}/", "http", "127.0.0.1", port, ("127.0.0.1",)), b"{}", {}, timeout=0.3)
        elapsed = time.monotonic() - started
        release.set()
    assert result.status_code is None and result.error.startswith("timeout") and elapsed < 5


def test_a_redirect_is_not_followed():
    def redirect(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", "http://169.254.169.254/latest/meta-data")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with server(redirect) as (port, seen):
        result = send(Target(f"http://127.0.0.1:{port}/", "http", "127.0.0.1", port, ("127.0.0.1",)), b"{}", {}, timeout=5)
    assert result.status_code == 302 and "not followed" in result.error and len(seen) == 1


def test_a_refused_connection_is_an_answerless_failure():
    with server(ok) as (port, _):
        pass  # closed: nothing listens on the port any more
    result = send(Target(f"http://127.0.0.1:{port}/", "http", "127.0.0.1", port, ("127.0.0.1",)), b"{}", {}, timeout=2)
    assert result.status_code is None and result.error
