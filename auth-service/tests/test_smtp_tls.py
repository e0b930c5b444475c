"""Outbound SMTP security against a real server: the capture SMTP server run as a guarded
relay would be (STARTTLS required before MAIL, or TLS from the first byte; AUTH required,
over TLS only), with a certificate from a private CA given to the sender as SMTP_CA_FILE.
The sender is built from settings exactly as the service builds it."""

import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from auth_service.mail.settings import MailSettings
from auth_service.mail.smtp import SendFailed, SmtpSender
from auth_service.mail.templates import RenderedMail
from devstack.testkit.mail import CaptureSmtp

from .conftest import new_email

pytestmark = pytest.mark.asyncio
LOGIN, PASSWORD = "relay-user", "relay-password-0123"
MAIL = RenderedMail(subject="Over TLS", text="plain part", html="<p>html part</p>")


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def make_ca_and_server_cert(directory: Path, ca_name: str) -> dict[str, Path]:
    """A private CA and a certificate it signed for 127.0.0.1 and localhost."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name(ca_name)).issuer_name(_name(ca_name))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    cert = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = {"ca": directory / f"{ca_name}.pem", "cert": directory / "server.pem",
             "key": directory / "server.key"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key, paths["key"])
    return paths


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("pki")
    paths = make_ca_and_server_cert(directory, "relay-ca")
    # A second CA that signed nothing the server shows: trusting it must fail the handshake.
    paths["other_ca"] = make_ca_and_server_cert(tmp_path_factory.mktemp("other-pki"),
                                                "other-ca")["ca"]
    auth_file = directory / "relay-auth"
    auth_file.write_text(f"{LOGIN}:{PASSWORD}\n")
    paths["auth"] = auth_file
    return paths


def _relay(tmp_path: Path, pki: dict[str, Path], tls: str) -> Iterator[CaptureSmtp]:
    capture = CaptureSmtp(tmp_path / f"maildir-{tls}", security=[
        "--tls", tls, "--cert-file", str(pki["cert"]), "--key-file", str(pki["key"]),
        "--auth-file", str(pki["auth"])])
    capture.start()
    try:
        yield capture
    finally:
        capture.stop()


@pytest.fixture
def starttls_relay(tmp_path: Path, pki: dict[str, Path]) -> Iterator[CaptureSmtp]:
    yield from _relay(tmp_path, pki, "starttls")


@pytest.fixture
def implicit_relay(tmp_path: Path, pki: dict[str, Path]) -> Iterator[CaptureSmtp]:
    yield from _relay(tmp_path, pki, "implicit")


def sender(relay: CaptureSmtp, **settings: Any) -> SmtpSender:
    defaults: dict[str, Any] = {"SMTP_HOST": relay.host, "SMTP_PORT": relay.port,
                                "SMTP_USERNAME": LOGIN, "SMTP_PASSWORD": PASSWORD,
                                "SMTP_TIMEOUT_SECONDS": 10, "MAIL_CLAIM_IDLE_SECONDS": 60}
    return SmtpSender.from_settings(MailSettings(**{**defaults, **settings}))


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_mail_is_delivered_over_tls_with_auth(mode: str, pki: dict[str, Path],
                                                    request: pytest.FixtureRequest) -> None:
    relay: CaptureSmtp = request.getfixturevalue(f"{mode}_relay")
    to = new_email()
    await sender(relay, SMTP_TLS=mode, SMTP_CA_FILE=pki["ca"]).send(to, MAIL)
    [mail] = relay.wait_for_mail(to)
    assert mail.subject == "Over TLS"
    assert mail.text.strip() == "plain part"
    assert "<p>html part</p>" in mail.html


async def test_a_relay_requiring_starttls_refuses_plain_smtp(
        starttls_relay: CaptureSmtp, pki: dict[str, Path]) -> None:
    with pytest.raises(SendFailed) as refused:
        await sender(starttls_relay, SMTP_TLS="none").send(new_email(), MAIL)
    # The password is never sent in the clear: the relay offers no AUTH before STARTTLS, so
    # the client gives up before sending anything (aiosmtplib's "AUTH not supported").
    assert refused.value.reason == "SMTPException"
    assert starttls_relay.mail() == []


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_a_certificate_from_an_untrusted_ca_is_refused(
        mode: str, pki: dict[str, Path], request: pytest.FixtureRequest) -> None:
    relay: CaptureSmtp = request.getfixturevalue(f"{mode}_relay")
    with pytest.raises(SendFailed) as refused:
        await sender(relay, SMTP_TLS=mode, SMTP_CA_FILE=pki["other_ca"]).send(new_email(), MAIL)
    assert not refused.value.permanent  # an operator fixes the CA; the mail waits for it
    assert relay.mail() == []


async def test_a_wrong_smtp_password_is_refused_and_nothing_is_sent(
        starttls_relay: CaptureSmtp, pki: dict[str, Path]) -> None:
    with pytest.raises(SendFailed) as refused:
        await sender(starttls_relay, SMTP_TLS="starttls", SMTP_CA_FILE=pki["ca"],
                     SMTP_PASSWORD="not-the-password").send(new_email(), MAIL)
    assert refused.value.reason == "SMTPAuthenticationError"
    assert starttls_relay.mail() == []


async def test_smtp_ca_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SMTP_CA_FILE"):
        MailSettings(SMTP_TLS="starttls", SMTP_CA_FILE=tmp_path / "missing.pem")
