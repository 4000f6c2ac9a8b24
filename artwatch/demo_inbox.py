"""The demo's receiving end: an SMTP server that writes ``.eml`` files, a webhook receiver.

``MailDrop`` is aiosmtpd on 127.0.0.1 that accepts every message and writes it, as received,
to ``<folder>/<n>.eml`` (open one in any mail client). ``WebhookInbox`` is an HTTP server on
127.0.0.1 that does what a real receiver should: it checks ``X-ArtWatch-Signature`` with the
artist's secret, refuses a bad one with 401, keeps the first delivery of each
``X-ArtWatch-Delivery`` id and answers duplicates with 200 without keeping them again.
"""

from __future__ import annotations

import json
import threading
from email import message_from_bytes
from email.policy import default
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from artwatch.alerts.webhook import verify
from artwatch.embedded import free_port


class _Writer:
    def __init__(self, drop: MailDrop):
        self.drop = drop

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.drop.save(envelope.content, envelope.rcpt_tos)
        return "250 OK"


class MailDrop:
    """A local SMTP server; ``url`` is its SMTP_URL and ``messages`` what arrived."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._controller = Controller(_Writer(self), hostname="127.0.0.1", port=free_port())
        self.url = f"smtp://127.0.0.1:{self._controller.port}"

    def __enter__(self) -> MailDrop:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def save(self, content: bytes, recipients: list[str]) -> None:
        message = message_from_bytes(content, policy=default)
        with self._lock:
            path = self.folder / f"{len(self.messages) + 1:03d}.eml"
            path.write_bytes(content)
            self.messages.append(
                {"path": path, "to": recipients, "subject": str(message["Subject"] or "")}
            )


class WebhookInbox:
    """A local webhook receiver that verifies signatures and drops duplicate deliveries."""

    def __init__(self, folder: Path, secret: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.secret = secret
        self.deliveries: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/artwatch"

    def __enter__(self) -> WebhookInbox:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def receive(self, delivery: str, signature: str, body: bytes) -> int:
        """What the receiver answers: 401 for a bad signature, else 200 (once per id)."""
        if not delivery or not verify(self.secret, signature, body):
            with self._lock:
                self.refused += 1
            return 401
        with self._lock:
            if delivery in self.deliveries:
                self.duplicates += 1
                return 200
            path = self.folder / f"{delivery}.json"
            path.write_bytes(body)
            self.deliveries[delivery] = {"path": path, "body": json.loads(body)}
        return 200

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = inbox.receive(
                    self.headers.get("X-ArtWatch-Delivery", ""),
                    self.headers.get("X-ArtWatch-Signature", ""),
                    body,
                )
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
