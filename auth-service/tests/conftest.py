"""Auth-service fixtures: the REAL user service (in process, over ASGI) on the devstack
PostgreSQL, the devstack Redis Cluster, and auth apps built from per-test settings."""

import asyncio
import base64
import contextlib
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from auth_service.config import Settings
from auth_service.deps import Resources
from auth_service.main import create_app
from shared import StaticKeySet
from user_service import migrations
from user_service.config import Settings as UserSettings
from user_service.main import create_app as create_user_app

INTERNAL_TOKEN = "test-internal-token-0123456789"
PASSWORD = "a perfectly fine passphrase"
# The user service's MFA key ring (`kid:base64(32 bytes)`), one random key per test session.
MFA_KEYS = "auth-tests:" + base64.b64encode(os.urandom(32)).decode()
FAST_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST_KIB": 1024, "ARGON2_PARALLELISM": 1}


@pytest.fixture(scope="session")
async def user_app(postgres: Any) -> AsyncIterator[FastAPI]:
    """The real user service, migrated, lifespan running."""
    settings = UserSettings(
        ENVIRONMENT="test", DATABASE_URL=postgres.url, INTERNAL_API_TOKEN=INTERNAL_TOKEN,
        MFA_ENCRYPTION_KEYS=MFA_KEYS,
        JWKS_URL="http://127.0.0.1:9/unused", DB_CONNECT_TIMEOUT=2, DB_POOL_TIMEOUT=2,
        METRICS_PORT=0,  # apps under test open no metrics listener on a fixed port
    )
    await asyncio.to_thread(migrations.upgrade, settings.DATABASE_URL)
    # Only the internal API is used here; public routes would verify our tokens.
    app = create_user_app(settings, key_set=StaticKeySet({"keys": []}, frozenset({"RS256"})))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("jwt-keys")


@pytest.fixture
def make_settings(redis_cluster: Any, keys_dir: Path) -> Callable[..., Settings]:
    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ENVIRONMENT": "test", **redis_cluster.service_env("auth-service"),
            "INTERNAL_API_TOKEN": INTERNAL_TOKEN, "JWT_KEYS_DIR": keys_dir,
            "USER_SERVICE_URL": "http://user-service", "REDIS_SOCKET_TIMEOUT_MS": 1000,
            "METRICS_PORT": 0,  # apps under test open no metrics listener on a fixed port
            **FAST_ARGON2, **overrides,
        }
        # Registration queues a verification mail: an app not pointed at an SMTP server
        # (a capture server's smtp_env) runs no sender, so no test depends on port 2525.
        values.setdefault("MAIL_WORKER_ENABLED", "SMTP_PORT" in overrides)
        return Settings(**values)

    return make


class AuthApp:
    """A running auth app and a client that talks to it from its own client IP."""

    password = PASSWORD

    def __init__(self, app: FastAPI, client: httpx.AsyncClient, ip: str) -> None:
        self.app = app
        self.client = client
        self.ip = ip

    @property
    def resources(self) -> Resources:
        resources: Resources = self.app.state.resources
        return resources

    @staticmethod
    def new_email() -> str:
        return new_email()

    async def register(self, email: str | None = None, password: str = PASSWORD) -> str:
        email = email or new_email()
        response = await self.client.post("/auth/register",
                                          json={"email": email, "password": password})
        assert response.status_code == 201, response.text
        return email

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.client.post("/auth/login",
                                          json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def new_email() -> str:
    return f"u-{uuid.uuid4().hex[:12]}@example.com"


def random_ip() -> str:
    # A client IP of its own per test, so throttling state never leaks between tests.
    return f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"


AppFactory = Callable[..., contextlib.AbstractAsyncContextManager[AuthApp]]


@pytest.fixture
def auth_app_factory(
    make_settings: Callable[..., Settings], user_app: FastAPI
) -> AppFactory:
    @contextlib.asynccontextmanager
    async def start(
        *, users_transport: httpx.AsyncBaseTransport | str | None = "in-process",
        ip: str | None = None, **overrides: Any,
    ) -> AsyncIterator[AuthApp]:
        settings = make_settings(**overrides)
        transport = (httpx.ASGITransport(user_app) if users_transport == "in-process"
                     else users_transport)
        assert not isinstance(transport, str)
        app = create_app(settings, users_transport=transport)
        ip = ip or random_ip()
        async with app.router.lifespan_context(app):
            client_transport = httpx.ASGITransport(app, client=(ip, 40000))
            async with httpx.AsyncClient(transport=client_transport,
                                         base_url="http://auth-service") as client:
                yield AuthApp(app, client, ip)

    return start


@pytest.fixture
async def auth(auth_app_factory: AppFactory) -> AsyncIterator[AuthApp]:
    # A grace window no busy machine outlasts between a test's two refreshes of one token;
    # the tests of what happens after it set a short one and wait it out.
    async with auth_app_factory(REFRESH_REUSE_GRACE_SECONDS=60.0) as running:
        yield running


@pytest.fixture
def sql(postgres: Any) -> Callable[..., Any]:
    """Run one SQL statement against the user service's database (disable/delete users)."""

    async def run(statement: str, *params: Any) -> list[tuple[Any, ...]]:
        async with await psycopg.AsyncConnection.connect(postgres.dsn, autocommit=True) as conn:
            cursor = await conn.execute(statement, params)
            return await cursor.fetchall() if cursor.description else []

    return run


