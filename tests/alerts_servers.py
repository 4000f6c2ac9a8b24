"""Real servers for the alert tests, loaded with ``pytest_plugins``: aiosmtpd and a webhook
receiver on 127.0.0.1 that checks every signature and answers with scripted statuses."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

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
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


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


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/artwatch"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    if state.hold is not None:
        state.hold.set()
    server.shutdown()
    server.server_close()
