"""Real servers for the alert tests, loaded with ``pytest_plugins``: aiosmtpd (plain,
STARTTLS with AUTH, implicit TLS) and a webhook receiver on 127.0.0.1 (HTTP or HTTPS) that
checks every signature and answers with scripted statuses."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from artwatch.alerts.webhook import verify
from artwatch.embedded import free_port
from tests.alerts_support import SECRET

# SMTP --------------------------------------------------------------------------------------


class Inbox:
    """aiosmtpd handler keeping every accepted message."""

    def __init__(self) -> None:
        self.envelopes: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.envelopes.append((list(envelope.rcpt_tos), message))
        return "250 OK"

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, message in self.envelopes]


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with _smtp_server() as server:
        yield server


# webhooks ----------------------------------------------------------------------------------


@dataclass
class Receiver:
    """What the webhook receiver saw, and the statuses it answers with, in order."""

    statuses: list[int] = field(default_factory=list)
    deliveries: list[dict] = field(default_factory=list)
    hold: threading.Event | None = None  # set: block the first request until released
    arrived: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""

    @property
    def ids(self) -> list[str]:
        return [delivery["id"] for delivery in self.deliveries]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with receiver.lock:
                receiver.deliveries.append(
                    {
                        "id": self.headers["X-ArtWatch-Delivery"],
                        "valid": verify(SECRET, self.headers["X-ArtWatch-Signature"], body),
                        "json": json.loads(body),
                        "path": self.path,
                    }
                )
                status = receiver.statuses.pop(0) if receiver.statuses else 200
            receiver.arrived.set()
            if receiver.hold is not None:
                receiver.hold.wait(30)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


@contextlib.contextmanager
def _serve(state: Receiver, scheme: str, context: ssl.SSLContext | None) -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    if context is not None:
        server.socket = context.wrap_socket(server.socket, server_side=True)
    host = "localhost" if context is not None else "127.0.0.1"
    state.url = f"{scheme}://{host}:{server.server_address[1]}/hooks/artwatch"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with _serve(Receiver(), "http", None) as state:
        yield state


# TLS: a throw-away certificate for localhost and 127.0.0.1, trusted through SSL_CERT_FILE --


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls(certificate, monkeypatch) -> ssl.SSLContext:
    """A server context; clients (ssl.create_default_context) trust it for this test."""
    cert_path, key_path = certificate
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


@pytest.fixture
def https_receiver(tls) -> Iterator[Receiver]:
    with _serve(Receiver(), "https", tls) as state:
        yield state


class Logins:
    """aiosmtpd authenticator that accepts one user and remembers every attempt."""

    def __init__(self, user: str, password: str) -> None:
        self.expected = (user.encode(), password.encode())
        self.attempts: list[tuple[bytes, bytes]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        self.attempts.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == self.expected)


@contextlib.contextmanager
def _smtp_server(**options) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def smtp_starttls(tls) -> Iterator[tuple[Inbox, int, Logins]]:
    """STARTTLS offered, AUTH only after it, as a submission server on port 587 does."""
    logins = Logins("ana", "p@ss:word/")
    with _smtp_server(tls_context=tls, authenticator=logins, auth_require_tls=True) as (
        inbox,
        port,
    ):
        yield inbox, port, logins


@pytest.fixture
def smtp_auth_without_tls() -> Iterator[tuple[Inbox, int, Logins]]:
    """AUTH over plain text and no STARTTLS: a password sent here is readable on the wire."""
    logins = Logins("ana", "secret")
    with _smtp_server(authenticator=logins, auth_require_tls=False) as (inbox, port):
        yield inbox, port, logins


@pytest.fixture
def smtps(tls) -> Iterator[tuple[Inbox, int]]:
    with _smtp_server(ssl_context=tls, server_hostname="localhost") as server:
        yield server
