"""Which webhook URLs we call: https to public addresses only, so a tenant cannot aim us at our own network.

Checked when a subscription is made and again before every try: DNS can
change between the two (rebinding). Every address the name resolves to must
be public, and the call then connects to the address that was checked, not to
whatever a second lookup would answer. `allow_private` (local development and
tests) lifts both the https and the address rules.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048

Resolver = Callable[[str, int], list[str]]


class TargetRefused(ValueError):
    """A URL we will not call; `detail` says why, in words a tenant can act on."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    scheme: str
    host: str  # as written in the URL (a name or an address)
    port: int
    addresses: tuple[str, ...]  # what the host resolved to, every one checked


def check_syntax(url: str, allow_private: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL, or TargetRefused. No network."""
    if len(url) > MAX_URL_LENGTH:
        raise TargetRefused(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise TargetRefused(f"not a URL: {error}") from None
    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_private else ("https",)
    if scheme not in allowed:
        raise TargetRefused("the URL must be https" if scheme == "http" else "the URL must be https://...")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused("credentials in the URL are not allowed; verify our signature instead")
    if parts.fragment:
        raise TargetRefused("the URL must not have a #fragment")
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80)


def refused_address(address: str) -> str | None:
    """Why we do not call this address, or None if it is public."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for reason, hit in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                        ("private", ip.is_private), ("multicast", ip.is_multicast),
                        ("unspecified", ip.is_unspecified), ("reserved", ip.is_reserved)):
        if hit:
            return reason
    return None if ip.is_global else "not public"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (blocking)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def resolve_target(url: str, allow_private: bool, resolver: Resolver = system_resolver) -> Target:
    """Check `url` and what its host resolves to now (blocking DNS); TargetRefused if we must not call it."""
    scheme, host, port = check_syntax(url, allow_private)
    try:
        addresses = resolver(host, port)
    except (OSError, UnicodeError) as error:
        raise TargetRefused(f"the host {host!r} does not resolve: {error}") from None
    if not addresses:
        raise TargetRefused(f"the host {host!r} does not resolve")
    if not allow_private:
        for address in addresses:
            reason = refused_address(address)
            if reason is not None:
                raise TargetRefused(f"the host {host!r} resolves to a {reason} address ({address})")
    return Target(url, scheme, host, port, tuple(addresses))
