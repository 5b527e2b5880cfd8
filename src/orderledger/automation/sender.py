"""One outbound webhook call: to the checked address, with timeouts, reading at most a bounded answer.

Redirects are not followed (a redirect could lead anywhere the policy
refuses), proxies from the environment are not used (the connection must go
to the address that was checked), and the answer is read raw (no
decompression) and only up to MAX_RESPONSE_BYTES: a receiver's answer is
worth its status code and a short excerpt for the delivery log, nothing more.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import httpx

from orderledger.automation.target_policy import Target

MAX_RESPONSE_BYTES = 64 * 1024
EXCERPT_CHARS = 500
USER_AGENT = "orderledger-webhooks/1"


@dataclass(frozen=True, slots=True)
class SendResult:
    status_code: int | None  # None: no answer (timeout, connection refused or reset)
    latency_ms: int  # until the answer's status line, or until the call failed
    error: str | None
    excerpt: str | None  # the start of the answer's body


def send(target: Target, body: bytes, headers: dict[str, str], timeout: float) -> SendResult:
    """POST `body` to `target`; never raises for what the network or the receiver does."""
    url, extensions, host_header = _pinned(target)
    started = time.monotonic()
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False) as client:
            request_headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Host": host_header, **headers}
            with client.stream("POST", url, content=body, headers=request_headers, extensions=extensions) as response:
                latency_ms = _ms_since(started)
                excerpt = _read_bounded(response, deadline=started + 2 * timeout)
                error = None
                if 300 <= response.status_code < 400:
                    error = f"redirect not followed (Location: {response.headers.get('location', '')[:200]})"
                return SendResult(response.status_code, latency_ms, error, excerpt)
    except httpx.TimeoutException as failure:
        return SendResult(None, _ms_since(started), f"timeout ({type(failure).__name__})", None)
    except httpx.HTTPError as failure:
        return SendResult(None, _ms_since(started), f"{type(failure).__name__}: {failure}"[:500], None)


def _pinned(target: Target) -> tuple[str, dict[str, str], str]:
    """The URL aimed at the checked address, the TLS name to verify, and the Host header to send."""
    parts = urlsplit(target.url)
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host if target.port == default_port else f"{_bracketed(target.host)}:{target.port}"
    if _is_address(target.host):
        return target.url, {}, host_header
    address = target.addresses[0]
    pinned = urlunsplit(parts._replace(netloc=f"{_bracketed(address)}:{target.port}"))
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return pinned, extensions, host_header


def _read_bounded(response: httpx.Response, deadline: float) -> str:
    received = bytearray()
    for chunk in response.iter_raw():
        received += chunk[: MAX_RESPONSE_BYTES - len(received)]
        if len(received) >= MAX_RESPONSE_BYTES or time.monotonic() > deadline:
            break
    return received[: EXCERPT_CHARS * 4].decode("utf-8", errors="replace")[:EXCERPT_CHARS]


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
