"""User-service fixtures: migrated real PostgreSQL (devstack `postgres`), an RSA JWKS the
tests sign with, the app with its lifespan running, and users to act as."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from jose import jwk, jwt

from shared import StaticKeySet
from shared.passwords import Argon2Params, PasswordHasher
from user_service import migrations
from user_service.config import Settings
from user_service.main import create_app
from user_service.mfa_crypto import KeyRing

INTERNAL_TOKEN = "test-internal-token-0123456789"
# One random MFA key per test session (the dev stack generates its own, devstack.stack).
MFA_KEYS = KeyRing.new_key_entry("test-1")
ISSUER, AUDIENCE, KID = "authstack", "authstack-api", "test-key-1"
PASSWORD = "correct horse battery staple"


@dataclass
class Signer:
    private_pem: bytes
    jwks: dict[str, Any]

    def token(self, sub: str, roles: list[str] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now, "nbf": now,
                "exp": now + 900, "jti": uuid.uuid4().hex, "roles": roles or ["user"]}
        body.update(claims)
        return jwt.encode(body, self.private_pem.decode(), algorithm="RS256",
                          headers={"kid": KID})


@dataclass
class ActingUser:
    id: str
    email: str
    token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture(scope="session")
def signer() -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    public = jwk.construct(public_pem.decode(), algorithm="RS256").to_dict()
    public.update({"kid": KID, "alg": "RS256", "use": "sig"})
    return Signer(pem, {"keys": [public]})


@pytest.fixture(scope="session")
def settings(postgres: Any, redis_cluster: Any) -> Settings:
    """Against the session PostgreSQL and Redis Cluster (revocations: its own ACL user)."""
    return Settings(
        ENVIRONMENT="test", DATABASE_URL=postgres.url, INTERNAL_API_TOKEN=INTERNAL_TOKEN,
        MFA_ENCRYPTION_KEYS=MFA_KEYS,
        **redis_cluster.service_env("user-service"),
        JWKS_URL="http://127.0.0.1:9/unused", JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE,
        DB_CONNECT_TIMEOUT=2, DB_POOL_TIMEOUT=2, PAGE_SIZE_DEFAULT=10, PAGE_SIZE_MAX=25,
        METRICS_PORT=0,  # apps under test open no metrics listener on a fixed port
    )


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> None:
    # Alembic is sync; keep it off the event loop.
    await asyncio.to_thread(migrations.upgrade, settings.DATABASE_URL)


def build_app(settings: Settings, signer: Signer) -> FastAPI:
    return create_app(settings, key_set=StaticKeySet(signer.jwks, settings.jwt_algorithms))


@pytest.fixture(scope="session")
def make_app(signer: Signer) -> Callable[[Settings], FastAPI]:
    """Build another app (e.g. against another server) with the test JWKS."""
    return lambda settings: build_app(settings, signer)


@pytest.fixture(scope="session")
async def app(settings: Settings, signer: Signer, migrated: None) -> AsyncIterator[FastAPI]:
    application = build_app(settings, signer)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://user-service") as c:
        yield c


@pytest.fixture
def internal() -> dict[str, str]:
    return {"X-Internal-Token": INTERNAL_TOKEN}


@pytest.fixture(autouse=True)
async def clean_users(request: pytest.FixtureRequest) -> None:
    """Every test that touches the DB starts from an empty `users` table."""
    if "migrated" not in request.fixturenames and "app" not in request.fixturenames:
        return
    request.getfixturevalue("migrated")
    postgres = request.getfixturevalue("postgres")
    async with await psycopg.AsyncConnection.connect(postgres.dsn, autocommit=True) as conn:
        await conn.execute("TRUNCATE users CASCADE")  # and the MFA rows that reference them


@pytest.fixture(scope="session")
async def password_hash() -> str:
    # Cheap parameters: the service verifies with the parameters stored in the hash.
    hasher = PasswordHasher(Argon2Params(time_cost=1, memory_cost_kib=1024))
    try:
        return await hasher.hash(PASSWORD)
    finally:
        hasher.close()


UserFactory = Callable[..., Any]


@pytest.fixture
def make_user(
    client: httpx.AsyncClient, internal: dict[str, str], signer: Signer, password_hash: str
) -> UserFactory:
    """Create a user through the internal API and mint a token for it."""

    async def make(email: str | None = None, role: str = "user", **extra: Any) -> ActingUser:
        email = email or f"u-{uuid.uuid4().hex[:10]}@example.com"
        body = {"email": email, "password_hash": password_hash, "role": role, **extra}
        response = await client.post("/internal/users", json=body, headers=internal)
        assert response.status_code == 201, response.text
        user_id = response.json()["id"]
        return ActingUser(user_id, response.json()["email"], signer.token(user_id, [role]))

    return make


@pytest.fixture
async def user(make_user: UserFactory) -> ActingUser:
    result: ActingUser = await make_user(display_name="Normal User")
    return result


@pytest.fixture
async def admin(make_user: UserFactory) -> ActingUser:
    result: ActingUser = await make_user(role="admin", display_name="Admin")
    return result


