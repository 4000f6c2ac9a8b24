"""The private-address guard: no request to a private host from a URL an outsider controls.

Image URLs in posts and artists' webhook targets are written by people outside the
deployment; fetching them blindly would let a post make ArtWatch probe its own network
(SSRF). ``check_url`` resolves the host and refuses loopback, private, link-local, reserved,
multicast and unspecified addresses unless the host or address is listed in
``ARTWATCH_ALLOW_PRIVATE_HOSTS`` (hosts or CIDRs). ``PrivateAddressGuard`` applies it in
Scrapy to every request marked ``meta["untrusted_url"] = True``; redirects keep the mark,
so a public URL redirecting to 127.0.0.1 is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest

from pipelines.errors import PrivateAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOWED_SCHEMES = ("http", "https")


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _allowed(host: str, address: IPAddress, allow: Iterable[str]) -> bool:
    for entry in allow:
        if entry.lower() == host.lower():
            return True
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue  # a host name entry that did not match
    return False


def _split(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES or not parts.hostname:
        raise PrivateAddressError(f"{url!r}: only http(s) URLs with a host are fetched")
    return parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


def _verdict(url: str, host: str, addresses: Iterable[IPAddress], allow: Sequence[str]) -> None:
    for address in addresses:
        if not _is_public(address) and not _allowed(host, address, allow):
            raise PrivateAddressError(
                f"{url!r}: {host} resolves to non-public address {address} "
                "(allow it with ARTWATCH_ALLOW_PRIVATE_HOSTS)"
            )


def _addresses(infos: Iterable[tuple]) -> list[IPAddress]:
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_url(url: str, allow: Sequence[str] = ()) -> list[IPAddress]:
    """Resolve the URL's host; return its addresses, or raise PrivateAddressError.

    Callers that open their own connection should connect to a returned address, so a
    second DNS answer (rebinding) cannot point somewhere else.
    """
    host, port = _split(url)
    try:
        addresses = _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except socket.gaierror as error:
        raise PrivateAddressError(f"{url!r}: cannot resolve {host}: {error}") from None
    _verdict(url, host, addresses, allow)
    return addresses


async def check_url_async(url: str, allow: Sequence[str] = ()) -> list[IPAddress]:
    """``check_url`` without blocking the event loop (the resolver runs in a thread)."""
    host, port = _split(url)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise PrivateAddressError(f"{url!r}: cannot resolve {host}: {error}") from None
    addresses = _addresses(infos)
    _verdict(url, host, addresses, allow)
    return addresses


class PrivateAddressGuard:
    """Downloader middleware: refuses untrusted requests to non-public addresses."""

    def __init__(self, allow: Sequence[str], stats):
        self.allow = tuple(allow)
        self.stats = stats

    @classmethod
    def from_crawler(cls, crawler):
        return cls(crawler.settings.getlist("ARTWATCH_ALLOW_PRIVATE_HOSTS"), crawler.stats)

    async def process_request(self, request):
        if not request.meta.get("untrusted_url"):
            return None
        try:
            await check_url_async(request.url, self.allow)
        except PrivateAddressError as error:
            self.stats.inc_value("artwatch/drops/private_address")
            raise IgnoreRequest(str(error)) from None
        return None
