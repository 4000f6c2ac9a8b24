"""The private-address guard, directly and inside a real Scrapy crawl with redirects."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import scrapy

from pipelines.errors import PrivateAddressError
from pipelines.netguard import check_url
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
