"""Gateway test harness: real upstream HTTP servers that record what they received, the
gateway served as `gateway` serves it (shared.server) on a free port, signing keys and
raw-socket clients."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwk, jwt

from devstack.ports import free_port
from gateway.app import Gateway
from gateway.config import Settings
from gateway.main import create_app
from shared.server import service_config

ISSUER, AUDIENCE = "authstack", "authstack-api"


def rsa_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_jwk(pem: bytes, kid: str) -> dict[str, Any]:
    public = jwk.construct(pem, "RS256").public_key().to_dict()
    return {**public, "kid": kid, "alg": "RS256", "use": "sig"}


PEM = rsa_pem()
KID = "key-1"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": str(uuid.uuid4()), "iat": now, "nbf": now,
            "exp": now + 900, "jti": uuid.uuid4().hex, "roles": ["user"]}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any] | None = None, pem: bytes = PEM, kid: str = KID,
         **headers: Any) -> str:
    return jwt.encode(payload or claims(), pem.decode(), algorithm="RS256",
                      headers={"kid": kid, **headers})


@dataclass
class Received:
    method: str
    raw_path: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None

    def has(self, name: str) -> bool:
        return any(k.lower() == name.lower() for k, _ in self.headers)


@dataclass
class Upstream:
    """A real HTTP server standing in for a service; records every request."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": [public_jwk(PEM, KID)]})
    delay: float = 0.0
    ready_status: int = 200
    jwks_status: int = 200
    jwks_fetches: int = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/health/ready":
            return web.json_response({"status": "ok"}, status=self.ready_status)
        if request.path == "/.well-known/jwks.json":
            self.jwks_fetches += 1
            return web.json_response(self.jwks, status=self.jwks_status)
        body = await request.read()
        self.requests.append(Received(
            request.method, request.raw_path,
            [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers], body))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path.endswith("/hop"):
            return web.json_response({"ok": True}, headers={
                "Connection": "X-Secret", "X-Secret": "s", "Keep-Alive": "timeout=5",
                "Proxy-Authenticate": "Basic", "Upgrade": "h2c", "Trailer": "X-T",
                "X-Kept": "k", "X-Request-ID": "upstream-made-up"})
        if request.path.endswith("/unavailable"):
            return web.json_response({"code": "down"}, status=503, headers={"Retry-After": "7"})
        return web.json_response({"ok": True, "path": request.raw_path},
                                 headers={"X-Upstream": "yes"})


@asynccontextmanager
async def serve_upstream() -> AsyncIterator[Upstream]:
    upstream = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", upstream.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    upstream.url = f"http://127.0.0.1:{port}"
    try:
        yield upstream
    finally:
        await runner.cleanup()


@dataclass
class RunningGateway:
    url: str
    port: int
    app: Gateway
    settings: Settings

    @property
    def metrics_url(self) -> str:
        """Its private metrics listener (the public port answers /metrics with 404)."""
        return f"http://{self.settings.METRICS_HOST}:{self.settings.METRICS_PORT}/metrics"

    def client(self, ip: str = "127.0.0.1", **kwargs: Any) -> httpx.AsyncClient:
        transport = httpx.AsyncHTTPTransport(
            local_address=ip, limits=httpx.Limits(max_connections=200))
        return httpx.AsyncClient(base_url=self.url, transport=transport, timeout=10, **kwargs)


@asynccontextmanager
async def serve_gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    app = create_app(settings)
    port = free_port()
    # What `gateway` serves with (shared.server: deadlines, caps, lingering close), on the
    # test's own loop.
    config = service_config(settings, app, host="127.0.0.1", port=port, loop="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        await asyncio.sleep(0.01)
    try:
        yield RunningGateway(f"http://127.0.0.1:{port}", port, app, settings)
    finally:
        server.should_exit = True
        await task


@dataclass
class Stack:
    auth: Upstream
    users: Upstream
    redis_env: dict[str, str]  # REDIS_NODES and the gateway's ACL login
    start: Callable[..., Awaitable[RunningGateway]]
    defaults: dict[str, Any] = field(default_factory=dict)

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "ENVIRONMENT": "test", **self.redis_env,
            "AUTH_SERVICE_URL": self.auth.url, "USER_SERVICE_URL": self.users.url,
            "JWKS_URL": f"{self.auth.url}/.well-known/jwks.json",
            "RATE_LIMIT_KEY_PREFIX": f"rl:t{uuid.uuid4().hex[:12]}",
            "JWKS_MIN_REFETCH_SECONDS": 0.2, "READINESS_CACHE_SECONDS": 0.0,
            "METRICS_PORT": free_port(),  # several gateways per test process
        }
        values.update(self.defaults)
        values.update(overrides)
        return Settings(**values)


@asynccontextmanager
async def gateway_stack(redis_env: dict[str, str], **defaults: Any) -> AsyncIterator[Stack]:
    async with AsyncExitStack() as stack:
        auth = await stack.enter_async_context(serve_upstream())
        users = await stack.enter_async_context(serve_upstream())

        async def start(settings: Settings | None = None, wait_keys: bool = True,
                        **overrides: Any) -> RunningGateway:
            chosen = settings or holder.settings(**overrides)
            running = await stack.enter_async_context(serve_gateway(chosen))
            if chosen.JWT_ENABLED and wait_keys:
                await wait_for(lambda: running.app.resources is not None and _keys_loaded(running))
            return running

        holder = Stack(auth, users, redis_env, start, defaults)
        yield holder


def _keys_loaded(running: RunningGateway) -> bool:
    resources = running.app.resources
    if resources is None or resources.authenticator is None:
        return True
    return bool(resources.authenticator.verifier.keys.get(KID))


async def wait_for(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)


@pytest.fixture
async def stack(redis_cluster: Any) -> AsyncIterator[Stack]:
    """Two recording upstreams and a gateway starter, on the session Redis Cluster.

    The test client, the gateways and the upstreams share one event loop here, so a
    burst (or a busy CI machine) can stall it past the production Redis budget; an
    overrun is "Redis trouble" and hands the decision to the fallback limiter, which is
    not what these tests are about. The fault tests keep the production budget."""
    async with gateway_stack(redis_cluster.service_env("gateway"), REDIS_BUDGET_MS=2000) as s:
        yield s


@pytest.fixture
async def gw(stack: Stack) -> RunningGateway:
    """A gateway with default settings (30/60 s, JWT on) in front of `stack`."""
    return await stack.start()


async def raw_request(port: int, data: bytes,
                      ip: str = "127.0.0.1") -> tuple[int, dict[str, str], bytes]:
    """Send bytes as-is (no client-side normalisation) and parse the one response."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(ip, 0))
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(-1), 5.0)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def get(path: str, *extra: str) -> bytes:
    """A raw GET with Connection: close, for raw_request."""
    lines = [f"GET {path} HTTP/1.1", "Host: gw", *extra, "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1")
