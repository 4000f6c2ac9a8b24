"""The private-address guard, directly and inside a real Scrapy crawl with redirects."""

from __future__ import annotations

import ipaddress
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import scrapy

from pipelines.errors import PrivateAddressError
from pipelines.netguard import check_url, is_public
from tests.replay import run_spider


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.jpg",
        "http://localhost:8080/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_non_public_addresses_are_refused(url):
    with pytest.raises(PrivateAddressError, match="ARTWATCH_ALLOW_PRIVATE_HOSTS"):
        check_url(url)


# One classification, address by address: (address, may ArtWatch connect to it?).
VERDICTS = [
    ("8.8.8.8", True),
    ("93.184.215.14", True),
    ("2001:4860:4860::8888", True),
    ("127.0.0.1", False),
    ("127.0.0.2", False),
    ("10.0.0.1", False),
    ("172.16.5.4", False),
    ("192.168.1.1", False),
    ("169.254.169.254", False),  # cloud metadata
    ("100.64.0.1", False),  # carrier-grade NAT
    ("0.0.0.0", False),
    ("224.0.0.1", False),
    ("255.255.255.255", False),
    ("::1", False),
    ("::", False),
    ("fe80::1", False),  # link-local
    ("fc00::1", False),  # unique local
    ("fec0::1", False),  # site-local (deprecated, still routed by some stacks)
    ("ff02::1", False),  # multicast
    ("::ffff:127.0.0.1", False),  # IPv4-mapped
    ("::ffff:10.0.0.1", False),
    ("::ffff:8.8.8.8", True),
    ("::ffff:0:127.0.0.1", False),  # IPv4-translated (RFC 2765)
    ("::ffff:0:8.8.8.8", True),
    ("::127.0.0.1", False),  # IPv4-compatible (RFC 4291, deprecated)
    ("::10.1.2.3", False),
    ("::8.8.8.8", True),
    ("64:ff9b::127.0.0.1", False),  # NAT64 well-known prefix (RFC 6052)
    ("64:ff9b::192.168.0.1", False),
    ("64:ff9b::8.8.8.8", True),
    ("64:ff9b:1::a00:1", False),  # NAT64 local-use (RFC 8215)
    ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
    ("2002:a00:1::1", False),  # 6to4 of 10.0.0.1
    ("2002:808:808::1", True),  # 6to4 of 8.8.8.8
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", True),  # Teredo: server and client public
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo whose client is 127.0.0.1
]


@pytest.mark.parametrize(("address", "public"), VERDICTS, ids=[a for a, _ in VERDICTS])
def test_address_classification(address, public):
    assert is_public(ipaddress.ip_address(address)) is public
    url = f"http://[{address}]/" if ":" in address else f"http://{address}/"
    if public:
        assert check_url(url)
    else:
        with pytest.raises(PrivateAddressError, match="non-public address"):
            check_url(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://x/", "http:///nohost"])
def test_only_http_urls_with_a_host_are_fetched(url):
    with pytest.raises(PrivateAddressError, match="only http"):
        check_url(url)


def test_public_literal_address_passes():
    assert [str(a) for a in check_url("https://93.184.215.14/x.png")] == ["93.184.215.14"]


def test_allow_list_takes_hosts_and_networks():
    assert check_url("http://127.0.0.1:9/", ["127.0.0.1"])
    assert check_url("http://10.9.8.7/", ["10.0.0.0/8"])
    with pytest.raises(PrivateAddressError):
        check_url("http://10.9.8.7/", ["127.0.0.1", "192.168.0.0/16"])


class Redirector(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/image":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/secret")
            self.end_headers()
        else:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"internal")
            self.server.secret_served = True

    def log_message(self, *args):
        pass


class FetchSpider(scrapy.Spider):
    name = "fetch"

    async def start(self):
        yield scrapy.Request(self.url, meta={"untrusted_url": True}, callback=self.parse)

    def parse(self, response):
        yield {"status": response.status}


@pytest.fixture
def redirector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirector)
    server.secret_served = False
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def fetch(url: str, allow: list[str]):
    settings = {
        "DOWNLOADER_MIDDLEWARES": {"pipelines.netguard.PrivateAddressGuard": 50},
        "ARTWATCH_ALLOW_PRIVATE_HOSTS": allow,
    }
    return run_spider(FetchSpider, settings, url=url)


def test_redirect_to_a_private_address_is_refused(redirector):
    port = redirector.server_port
    # "localhost" is allowed by name; the redirect goes to 127.0.0.1, which is not.
    result = fetch(f"http://localhost:{port}/image", ["localhost"])
    assert result.items == []
    assert result.stats["artwatch/drops/private_address"] == 1
    assert redirector.secret_served is False


def test_allowed_address_is_fetched_through_the_redirect(redirector):
    result = fetch(f"http://localhost:{redirector.server_port}/image", ["localhost", "127.0.0.1"])
    assert result.items == [{"status": 200}]
    assert redirector.secret_served is True
