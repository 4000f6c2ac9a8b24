"""The encrypted paths: SMTP with STARTTLS and AUTH, SMTP over TLS, webhooks over HTTPS."""

from __future__ import annotations

from artwatch.alerts.dispatcher import Dispatcher
from artwatch.alerts.email import EmailChannel
from artwatch.alerts.webhook import WebhookChannel
from artwatch.settings import Alerts
from tests.alerts_support import SENDER, add_artist, add_artwork, add_hit, statuses

pytest_plugins = ["tests.alerts_servers"]


def _email_dispatcher(store, smtp_url: str) -> Dispatcher:
    return Dispatcher(store, {"email": EmailChannel(smtp_url, SENDER, timeout=5)}, Alerts())


def test_starttls_then_login_with_credentials_from_the_url(store, smtp_starttls):
    inbox, port, logins = smtp_starttls
    artist = add_artist(store)
    add_hit(store, artist, add_artwork(store, artist))
    # The password holds URL-reserved characters, percent-encoded as SMTP_URL requires.
    url = f"smtp://ana:p%40ss%3Aword%2F@localhost:{port}"
    assert _email_dispatcher(store, url).run_pass() == {"sent": 1}
    assert logins.attempts == [(b"ana", b"p@ss:word/")]
    assert len(inbox.messages) == 1


def test_wrong_smtp_password_keeps_alerts_pending(store, smtp_starttls):
    inbox, port, _ = smtp_starttls
    artist = add_artist(store)
    add_hit(store, artist, add_artwork(store, artist))
    url = f"smtp://ana:wrong@localhost:{port}"
    assert _email_dispatcher(store, url).run_pass() == {"channel_down": 1}
    assert statuses(store) and set(statuses(store).values()) == {"pending"}
    assert inbox.messages == []


def test_credentials_are_never_sent_without_starttls(store, smtp_auth_without_tls):
    inbox, port, logins = smtp_auth_without_tls
    artist = add_artist(store)
    add_hit(store, artist, add_artwork(store, artist))
    url = f"smtp://ana:secret@127.0.0.1:{port}"
    assert _email_dispatcher(store, url).run_pass() == {"channel_down": 1}
    assert logins.attempts == [] and inbox.messages == []
    assert set(statuses(store).values()) == {"pending"}  # the alert waits for a fixed SMTP_URL
    assert "STARTTLS" in store.db.alerts.find_one()["last_error"]


def test_insecure_opt_in_sends_credentials_to_a_local_test_server(store, smtp_auth_without_tls):
    inbox, port, logins = smtp_auth_without_tls
    artist = add_artist(store)
    add_hit(store, artist, add_artwork(store, artist))
    url = f"smtp://ana:secret@127.0.0.1:{port}?insecure=1"
    assert _email_dispatcher(store, url).run_pass() == {"sent": 1}
    assert logins.attempts == [(b"ana", b"secret")] and len(inbox.messages) == 1


def test_smtps_speaks_tls_from_the_first_byte(store, smtps):
    inbox, port = smtps
    artist = add_artist(store)
    add_hit(store, artist, add_artwork(store, artist))
    assert _email_dispatcher(store, f"smtps://localhost:{port}").run_pass() == {"sent": 1}
    assert len(inbox.messages) == 1


def test_https_webhook_verifies_the_certificate_for_the_host_name(store, https_receiver):
    artist = add_artist(store, email=None, webhook=https_receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    channels = {"webhook": WebhookChannel(("localhost",), timeout=5)}
    assert Dispatcher(store, channels, Alerts()).run_pass() == {"sent": 1}
    assert len(https_receiver.deliveries) == 1 and https_receiver.deliveries[0]["valid"]


def test_https_webhook_with_an_untrusted_certificate_is_retried(store, https_receiver, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE")
    artist = add_artist(store, email=None, webhook=https_receiver.url)
    add_hit(store, artist, add_artwork(store, artist))
    channels = {"webhook": WebhookChannel(("localhost",), timeout=5)}
    assert Dispatcher(store, channels, Alerts()).run_pass() == {"retry": 1}
    assert "CERTIFICATE_VERIFY_FAILED" in store.db.alerts.find_one()["last_error"]
    assert https_receiver.deliveries == []
