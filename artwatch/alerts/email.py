"""The email channel: one multipart message per alert over SMTP (``SMTP_URL``).

``smtp://`` upgrades with STARTTLS when offered, ``smtps://`` is TLS from the first byte. A
password never goes over a connection without TLS: with credentials, a server that does not
offer STARTTLS is refused (the alerts wait) unless ``?insecure=1`` says it is a local test server.
Plain text plus HTML with the two images inline; ``Message-ID`` comes from the alert id, so a
retry is the same message to the mail client. An unreachable server or refused credentials
raise ``ChannelUnavailable`` (every email waits); a refused recipient fails that alert alone.
"""

from __future__ import annotations

import functools
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from artwatch.alerts import render
from artwatch.alerts.delivery import ChannelUnavailable, Delivery
from artwatch.settings import Settings
from pipelines.errors import AlertError, ConfigError

DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
TIMEOUT_SECONDS = 20.0


class EmailChannel:
    """Sends deliveries to the artist's ``email`` through one SMTP server."""

    name = "email"
    artist_field = "email"
    off_hint = "SMTP_URL is not set"  # why from_settings returned None

    def __init__(self, smtp_url: str, sender: str, timeout: float = TIMEOUT_SECONDS):
        parts = urlsplit(smtp_url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
            raise ConfigError("SMTP_URL must look like smtp://user:pass@host:port or smtps://...")
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = parts.port or DEFAULT_PORTS[parts.scheme]
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password or "")
        self.insecure = parse_qs(parts.query).get("insecure") == ["1"]
        self.sender = sender
        self.timeout = timeout

    @classmethod
    def from_settings(cls, settings: Settings) -> EmailChannel | None:
        """None when SMTP_URL is unset: email alerts then wait in the outbox."""
        if settings.smtp_url is None:
            return None
        return cls(settings.smtp_url.get_secret_value(), settings.alert_from)

    def send(self, delivery: Delivery) -> None:
        try:
            message = build_message(delivery, self.sender)
        except ValueError as error:  # an address or header the email package refuses
            raise AlertError(f"cannot build the message: {error}", permanent=True) from None
        try:
            with self._connect() as smtp:
                smtp.send_message(message)
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as error:
            raise ChannelUnavailable(f"SMTP server {self.host} refused us: {error}") from None
        except smtplib.SMTPRecipientsRefused as error:
            raise AlertError(f"recipient refused: {error.recipients}", permanent=True) from None
        except smtplib.SMTPResponseException as error:
            permanent = 500 <= error.smtp_code < 600
            detail = f"SMTP {error.smtp_code}: {error.smtp_error!r}"
            raise AlertError(detail, permanent=permanent) from None
        except (OSError, smtplib.SMTPException) as error:
            raise ChannelUnavailable(
                f"SMTP server {self.host}:{self.port} unreachable: {error}"
            ) from None

    @functools.cached_property
    def tls(self) -> ssl.SSLContext:
        return ssl.create_default_context()  # loading the CA store is slow: once per channel

    def _connect(self) -> smtplib.SMTP:
        if self.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=self.tls)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.scheme == "smtp":
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls(context=self.tls)
                    smtp.ehlo()
                elif self.username and not self.insecure:
                    raise ChannelUnavailable(
                        f"SMTP server {self.host}:{self.port} does not offer STARTTLS: not "
                        "sending the password in clear (use smtps://, or ?insecure=1 for a local "
                        "test server)"
                    )
            if self.username:
                smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


def message_id(alert_id: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "artwatch.local"
    return f"<alert-{alert_id}@{domain}>"


def build_message(delivery: Delivery, sender: str) -> EmailMessage:
    """The whole MIME message for one delivery; raises ValueError on a malformed address."""
    artist = delivery.artist
    message = EmailMessage()
    message["Subject"] = render.subject(delivery)
    message["From"] = sender
    message["To"] = formataddr((render.one_line(artist.get("name")), artist["email"]))
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(delivery.alert_id, sender)
    message["X-ArtWatch-Delivery"] = delivery.alert_id
    message.set_content(render.text(delivery))
    images = _inline_images(delivery)
    cids = [(artwork and artwork[0], found and found[0]) for artwork, found in images]
    message.add_alternative(render.html(delivery, cids), subtype="html")
    html_part = message.get_payload()[1]
    for pair in images:
        for image in pair:
            if image:
                cid, data, filename = image
                html_part.add_related(
                    data, "image", "jpeg", cid=f"<{cid}>", disposition="inline", filename=filename
                )
    return message


def _inline_images(delivery: Delivery) -> list[tuple[tuple | None, tuple | None]]:
    """(content id, JPEG bytes, file name) for the artwork and found image of early cards."""
    pairs = []
    for index, entry in enumerate(delivery.entries[: render.MAX_IMAGE_CARDS]):
        artwork_jpeg = entry.artwork.get("thumbnail") if entry.artwork else None
        found_jpeg = entry.hit.get("thumbnail")
        pairs.append(
            (
                _image(f"artwork-{index}", delivery.alert_id, artwork_jpeg),
                _image(f"found-{index}", delivery.alert_id, found_jpeg),
            )
        )
    return pairs


def _image(stem: str, alert_id: str, data: bytes | None) -> tuple[str, bytes, str] | None:
    if not data:
        return None
    return f"{stem}.{alert_id}@artwatch", bytes(data), f"{stem}.jpg"
