"""The private-address guard: no request to a private host from a URL an outsider controls.

Image URLs, next-page links, redirects and artists' webhook targets are written by people
outside the deployment; fetching them blindly would let a post make ArtWatch probe its own
network (SSRF). ``is_public`` is the one classification (``ipaddress`` plus the IPv6 forms
that carry an IPv4 address: mapped, translated, compatible, NAT64, 6to4, Teredo);
``check_url`` resolves a URL's host and refuses any non-public address unless the host or
address is listed in ``ARTWATCH_ALLOW_PRIVATE_HOSTS`` (hosts or CIDRs). In Scrapy it holds at
two levels: ``PrivateAddressGuard`` checks every request's URL (next pages, redirects,
robots.txt; only the hosts the operator configured are exempt) before it is sent, and
``GuardedResolver`` (``TWISTED_DNS_RESOLVER``) checks the answer the connection is actually
opened to, so a name that answers a public address first and a private one next (DNS
rebinding) reaches nothing.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.resolver import CachingHostnameResolver
from twisted.internet.interfaces import IHostnameResolver, IResolutionReceiver
from zope.interface import implementer

from pipelines.errors import PrivateAddressError

logger = logging.getLogger(__name__)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
ALLOWED_SCHEMES = ("http", "https")


# IPv6 prefixes whose low 32 bits are an IPv4 address the packet ends up at (RFC 6052 NAT64,
# RFC 2765 translated, RFC 4291 IPv4-compatible); mapped, 6to4 and Teredo have properties.
_LOW_32_BITS = tuple(
    ipaddress.ip_network(net) for net in ("64:ff9b::/96", "::ffff:0:0:0/96", "::/96")
)
# Local-use NAT64 (RFC 8215) embeds at a site-chosen position: never public to us.
_NEVER_PUBLIC = tuple(ipaddress.ip_network(net) for net in ("64:ff9b:1::/48", "fec0::/10"))


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to through a transition mechanism."""
    found = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    if any(address in network for network in _LOW_32_BITS):
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [v4 for v4 in found if v4 is not None]


def is_public(address: IPAddress) -> bool:
    """Whether a connection to ``address`` may leave for the public internet, and only that."""
    if isinstance(address, ipaddress.IPv6Address):
        if any(address in network for network in _NEVER_PUBLIC):
            return False
        embedded = embedded_ipv4(address)
        if embedded:  # judged by where the packets really go
            return all(is_public(v4) for v4 in embedded)
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
        if not is_public(address) and not _allowed(host, address, allow):
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
    return check_host(host, port, allow, url)


def check_host(
    host: str, port: int, allow: Sequence[str] = (), url: str | None = None
) -> list[IPAddress]:
    """``check_url`` for a host and port, as a connector that pins its address has them."""
    try:
        addresses = _addresses(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    except socket.gaierror as error:
        raise PrivateAddressError(f"{url or host!r}: cannot resolve {host}: {error}") from None
    _verdict(url or host, host, addresses, allow)
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
    """Downloader middleware: every request a response could have chosen passes ``check_url``.

    Next-page links, redirects (``RedirectMiddleware`` sends the new request through the
    middlewares again) and robots.txt of image hosts are all guarded. Only requests to the
    spider's ``trusted_hosts`` (the instances and feeds the operator configured) are exempt,
    unless marked ``meta["untrusted_url"]`` (images, wherever they live). The installed
    ``GuardedResolver`` learns the same trusted hosts when the spider opens.
    """

    def __init__(self, allow: Sequence[str], stats):
        self.allow = tuple(allow)
        self.stats = stats
        self.trusted: frozenset[str] = frozenset()

    @classmethod
    def from_crawler(cls, crawler):
        guard = cls(crawler.settings.getlist("ARTWATCH_ALLOW_PRIVATE_HOSTS"), crawler.stats)
        crawler.signals.connect(guard.spider_opened, signal=signals.spider_opened)
        return guard

    def spider_opened(self, spider) -> None:
        from twisted.internet import reactor

        self.trusted = frozenset(getattr(spider, "trusted_hosts", ()))
        resolver = getattr(reactor, "nameResolver", None)
        if isinstance(resolver, GuardedResolver):
            resolver.trusted |= self.trusted

    async def process_request(self, request):
        parts = urlsplit(request.url)
        if parts.hostname in self.trusted and not request.meta.get("untrusted_url"):
            return None
        kind = "private_address" if parts.scheme in ALLOWED_SCHEMES else "unsupported_scheme"
        try:
            await check_url_async(request.url, self.allow)
        except PrivateAddressError as error:
            self.stats.inc_value(f"artwatch/drops/{kind}")
            logger.warning("refused %s", error)
            raise IgnoreRequest(str(error)) from None
        return None


@implementer(IHostnameResolver)
class GuardedResolver(CachingHostnameResolver):
    """Scrapy's ``TWISTED_DNS_RESOLVER``: a connection opens only to an address that passes.

    The middleware checks a name before the request is sent; the connection resolves it
    again. This resolver sits under every connection Scrapy opens and hands the connector no
    address at all when any answer is private (and the host is not allowed), so the address
    connected to is always one that was checked. Answers are cached as Scrapy's
    ``CachingHostnameResolver`` does (IPv4 and IPv6) and checked on every use.
    """

    def __init__(self, reactor, cache_size: int, allow: Sequence[str] = ()):
        super().__init__(reactor, cache_size)
        self.allow = tuple(allow)
        self.trusted: frozenset[str] = frozenset()  # configured hosts, from the guard

    @classmethod
    def from_crawler(cls, crawler, reactor):
        settings = crawler.settings
        size = settings.getint("DNSCACHE_SIZE") if settings.getbool("DNSCACHE_ENABLED") else 0
        return cls(reactor, size, settings.getlist("ARTWATCH_ALLOW_PRIVATE_HOSTS"))

    def resolveHostName(
        self,
        resolutionReceiver,
        hostName,
        portNumber=0,
        addressTypes=None,
        transportSemantics="TCP",
    ):
        allow = (*self.allow, *self.trusted)
        checked = _CheckedReceiver(resolutionReceiver, hostName, allow)
        return super().resolveHostName(
            checked, hostName, portNumber, addressTypes, transportSemantics
        )


@implementer(IResolutionReceiver)
class _CheckedReceiver:
    """Holds the answers back until all are in, then passes them on only if all are allowed."""

    def __init__(self, receiver, host: str, allow: Sequence[str]):
        self.receiver = receiver
        self.host = host
        self.allow = allow
        self.addresses: list = []

    def resolutionBegan(self, resolution) -> None:
        self.receiver.resolutionBegan(resolution)

    def addressResolved(self, address) -> None:
        self.addresses.append(address)

    def resolutionComplete(self) -> None:
        try:
            ips = [ipaddress.ip_address(a.host.split("%")[0]) for a in self.addresses]
            _verdict(self.host, self.host, ips, self.allow)
        except (PrivateAddressError, ValueError) as error:
            # No address: the connection fails with DNSLookupError and nothing is contacted.
            logger.warning("refused to connect: %s", error)
        else:
            for address in self.addresses:
                self.receiver.addressResolved(address)
        self.receiver.resolutionComplete()
