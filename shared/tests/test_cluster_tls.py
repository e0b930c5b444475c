"""The cluster client over TLS (REDIS_TLS, REDIS_TLS_CA_FILE) against a real redis-server
with a TLS port only: a one-node cluster holding every slot, its certificate signed by a
CA made here. A client that trusts another CA is refused by the TLS handshake."""

import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devstack import binaries
from devstack.ports import free_ports
from shared import RedisSettings, ServiceSettings
from shared.redis import ClusterUnavailable, cluster_client_from_settings


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def _make_certificates(directory: Path) -> None:
    """ca.pem, and node.pem/node.key for 127.0.0.1 signed by it."""
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
             "/CN=test-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=directory)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
             "-keyout", "node.key", "-out", "node.csr", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    _openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "node.pem",
             cwd=directory)


@pytest.fixture(scope="module")
def tls_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, str]]:
    """(TLS port, CA file, password of user `svc`) of a one-node TLS cluster."""
    directory = tmp_path_factory.mktemp("redis-tls")
    _make_certificates(directory)
    port, _bus = free_ports(2)
    password = secrets.token_urlsafe(24)
    process = subprocess.Popen(
        [str(binaries.redis_server()), "--port", "0", "--tls-port", str(port),
         "--tls-cert-file", "node.pem", "--tls-key-file", "node.key",
         "--tls-ca-cert-file", "ca.pem", "--tls-auth-clients", "no", "--tls-cluster", "yes",
         "--cluster-port", str(_bus), "--cluster-enabled", "yes",
         "--cluster-config-file", "nodes.conf", "--dir", str(directory), "--save", "",
         "--appendonly", "no", "--bind", "127.0.0.1",
         "--user", "default", "off", "--user", "svc", "on", f">{password}", "~*", "+@all"],
        cwd=directory, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        admin = redis.Redis(host="127.0.0.1", port=port, ssl=True,
                            ssl_ca_certs=str(directory / "ca.pem"), username="svc",
                            password=password, socket_timeout=2, socket_connect_timeout=2)
        for _ in range(100):
            assert process.poll() is None, "redis-server with TLS exited"
            try:
                admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        for _ in range(100):
            if b"cluster_state:ok" in admin.execute_command("CLUSTER", "INFO"):
                break
            time.sleep(0.1)
        admin.close()
        yield port, directory / "ca.pem", password
    finally:
        process.kill()
        process.wait(10)


def _settings(port: int, password: str, **extra: object) -> RedisSettings:
    return RedisSettings(REDIS_NODES=f"127.0.0.1:{port}", REDIS_SOCKET_TIMEOUT_MS=2000,
                         REDIS_USERNAME="svc", REDIS_PASSWORD=password, **extra)  # type: ignore[arg-type]


async def test_talks_tls_with_the_configured_ca(tls_node: tuple[int, Path, str]) -> None:
    port, ca_file, password = tls_node
    client = cluster_client_from_settings(
        _settings(port, password, REDIS_TLS=True, REDIS_TLS_CA_FILE=ca_file))
    try:
        await client.initialize()
        assert client.masters == {("127.0.0.1", port)}
        assert await client.execute("t:{tls}", "SET", "t:{tls}", "1", "PX", 60000) == b"OK"
        assert await client.execute("t:{tls}", "GET", "t:{tls}") == b"1"
    finally:
        await client.aclose()


async def test_a_node_whose_certificate_is_not_trusted_is_refused(
        tls_node: tuple[int, Path, str]) -> None:
    port, _, password = tls_node
    client = cluster_client_from_settings(_settings(port, password, REDIS_TLS=True))
    try:  # the system's CAs never signed the test CA's certificate
        with pytest.raises(ClusterUnavailable, match="SSLCertVerificationError"):
            await client.initialize()
    finally:
        await client.aclose()


async def test_plain_tcp_to_a_tls_port_gets_no_answer(tls_node: tuple[int, Path, str]) -> None:
    port, _, password = tls_node
    client = cluster_client_from_settings(_settings(port, password))
    try:
        with pytest.raises(ClusterUnavailable):
            await client.initialize()
    finally:
        await client.aclose()


def test_the_password_comes_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "redis-password"
    secret.write_text("from-a-file-0123456789\n")
    settings = RedisSettings(REDIS_USERNAME="svc", REDIS_PASSWORD_FILE=secret)
    assert settings.redis_password == "from-a-file-0123456789"
    assert "from-a-file" not in repr(settings)
    inline = RedisSettings(REDIS_PASSWORD="inline-0123456789")  # type: ignore[arg-type]
    assert inline.redis_password == "inline-0123456789"
    assert "inline-0123456789" not in repr(inline)
    with pytest.raises(ValueError, match="not both"):
        RedisSettings(REDIS_PASSWORD="x", REDIS_PASSWORD_FILE=secret)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not a file"):
        RedisSettings(REDIS_PASSWORD_FILE=tmp_path / "missing")


class _ServiceWithRedis(ServiceSettings, RedisSettings):
    """A service's settings as the services compose them."""


def test_production_refuses_a_redis_login_without_a_password(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="REDIS_PASSWORD"):
        _ServiceWithRedis(ENVIRONMENT="production", REDIS_USERNAME="gateway")
    secret = tmp_path / "redis-password"
    secret.write_text("a generated password, long enough\n")
    _ServiceWithRedis(ENVIRONMENT="production", REDIS_USERNAME="gateway",
                      REDIS_PASSWORD_FILE=secret)
    _ServiceWithRedis(ENVIRONMENT="local")  # no AUTH is a local choice
