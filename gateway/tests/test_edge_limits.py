"""What slow, greedy or clumsy clients can do to a real gateway process: half-open heads and
stalled bodies are timed out, connections over the caps get a quick 503, an early 413 is
read by clients that write their whole body first, and the HTTP parser's refusals are
problem+json. Timeouts are set low here; every verdict is what the server did (EOF, a 408),
with bounds that only guard against a hang."""

import asyncio
import contextlib
import http.client
import os
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from devstack.ports import free_port

from .conftest import Stack, wait_for

HANG_GUARD = 120.0  # seconds; a verdict that takes this long is a failure, not a timing


@dataclass
class GatewayProcess:
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def open_descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@contextlib.asynccontextmanager
async def gateway_process(stack: Stack, **env: Any) -> AsyncIterator[GatewayProcess]:
    """The `gateway` entry point as deployed, in its own process, with `env` settings."""
    port = free_port()
    environment = {**os.environ, "PORT": str(port), "METRICS_PORT": str(free_port()),
                   **stack.redis_env,
                   "AUTH_SERVICE_URL": stack.auth.url, "USER_SERVICE_URL": stack.users.url,
                   "JWKS_URL": f"{stack.auth.url}/.well-known/jwks.json",
                   "ENVIRONMENT": "test", "LOG_LEVEL": "warning",
                   "RATE_LIMIT_REQUESTS": "100000", "RATE_LIMIT_KEY_PREFIX": f"rl:edge{port}",
                   **{name: str(value) for name, value in env.items()}}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from gateway.main import run; run()", env=environment,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    running = GatewayProcess(port, process.pid)
    try:
        async with httpx.AsyncClient(base_url=running.url) as client:
            async with asyncio.timeout(HANG_GUARD):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        if (await client.get("/health/live")).status_code == 200:
                            break
                    assert process.returncode is None, "gateway exited"
                    await asyncio.sleep(0.1)
        yield running
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 30)


async def read_answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes (b"" when it closed without a word, a
    reset included: on a busy machine the kernel may answer a close with RST)."""
    async with asyncio.timeout(HANG_GUARD):
        try:
            return await reader.read()
        except ConnectionResetError:
            return b""


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def problem_of(raw: bytes) -> tuple[dict[bytes, bytes], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    return headers, orjson.loads(body)


async def test_half_open_heads_are_closed_while_a_steady_client_is_served(
        stack: Stack, redis_cluster: Any) -> None:
    async with gateway_process(stack, HEADER_TIMEOUT_SECONDS=1,
                               MAX_CONNECTIONS=6000, MAX_CONNECTIONS_PER_IP=200) as gw:
        baseline = gw.open_descriptors()
        half_open: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        statuses: list[int] = []
        done = asyncio.Event()

        async def steady_client() -> None:
            transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            async with httpx.AsyncClient(base_url=gw.url, transport=transport) as client:
                while not done.is_set():
                    statuses.append((await client.get("/health/live")).status_code)
                    await asyncio.sleep(0.01)

        async def open_half(address: str) -> None:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", gw.port, local_addr=(address, 0))
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")  # never finished
            half_open.append((reader, writer))

        steady = asyncio.create_task(steady_client())
        # 5,000 from 50 addresses (100 each, under the per-address cap of 200).
        for batch in range(10):
            await asyncio.gather(*(open_half(f"127.0.1.{batch * 5 + n % 5 + 1}")
                                   for n in range(500)))
        answers = await asyncio.gather(*(read_answer(reader) for reader, _ in half_open))
        done.set()
        await steady
        for _, writer in half_open:
            writer.close()

        assert len(answers) == 5000
        # Closed by the server: an EOF, or a 408 and then the EOF read() waited for.
        assert all(raw == b"" or status_of(raw) == 408 for raw in answers)
        assert any(raw for raw in answers), "partial heads are answered 408"
        assert statuses
        assert set(statuses) == {200}
        await wait_for(lambda: gw.open_descriptors() <= baseline, within=HANG_GUARD)


async def test_silent_connection_and_idle_keep_alive_are_closed(stack: Stack,
                                                               redis_cluster: Any) -> None:
    async with gateway_process(stack, HEADER_TIMEOUT_SECONDS=1,
                               KEEP_ALIVE_TIMEOUT_SECONDS=1) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        assert await read_answer(reader) == b""  # sent nothing: closed without an answer
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = await read_answer(reader)  # the answer, then the close of the idle connection
        assert status_of(raw) == 200
        writer.close()


async def test_a_body_that_stops_arriving_is_answered_408(stack: Stack,
                                                          redis_cluster: Any) -> None:
    async with gateway_process(stack, BODY_TIMEOUT_SECONDS=2) as gw:
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nContent-Length: 50\r\n\r\n{\"em")
        raw = await read_answer(reader)
        writer.close()
        assert status_of(raw) == 408
        headers, problem = problem_of(raw)
        assert headers[b"content-type"] == b"application/problem+json"
        assert problem["code"] == "request_timeout"
        assert headers[b"x-request-id"].decode() == problem["request_id"]
        assert stack.auth.requests == []  # nothing half-read was forwarded

        # A body that keeps progressing is read whole, however long it takes in total.
        body = orjson.dumps({"email": "slow@example.com", "password": "x" * 20})
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        writer.write(b"POST /auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body))
        for piece in range(0, len(body), 4):
            writer.write(body[piece:piece + 4])
            await writer.drain()
            await asyncio.sleep(0.2)  # 14 pieces: longer in total than the timeout
        raw = await read_answer(reader)
        writer.close()
        assert status_of(raw) == 200
        assert stack.auth.requests[-1].body == body


async def test_connections_over_the_caps_get_a_quick_503(stack: Stack,
                                                         redis_cluster: Any) -> None:
    async with gateway_process(stack, MAX_CONNECTIONS_PER_IP=3,
                               MAX_CONNECTIONS=6) as gw:
        held = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", gw.port, local_addr=("127.0.2.1", 0))
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b" 200 " in await reader.readuntil(b"\r\n")
            held.append(writer)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gw.port, local_addr=("127.0.2.1", 0))
        raw = await read_answer(reader)  # answered without being asked: the cap decides
        writer.close()
        assert status_of(raw) == 503
        headers, problem = problem_of(raw)
        assert problem["code"] == "too_many_connections"
        assert headers[b"retry-after"] == b"1"

        # Another address is served, up to the process cap (6) ...
        for _ in range(3):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", gw.port, local_addr=("127.0.2.2", 0))
            writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
            assert b" 200 " in await reader.readuntil(b"\r\n")
            held.append(writer)
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", gw.port, local_addr=("127.0.2.3", 0))
        raw = await read_answer(reader)
        writer.close()
        assert status_of(raw) == 503
        assert problem_of(raw)[1]["code"] == "server_busy"

        # ... and a closed connection frees its place.
        held.pop().close()
        async with asyncio.timeout(HANG_GUARD):
            while True:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", gw.port, local_addr=("127.0.2.3", 0))
                writer.write(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                raw = await read_answer(reader)
                writer.close()
                if status_of(raw) == 200:
                    break
                await asyncio.sleep(0.1)  # the server has not seen the close yet
        for writer in held:
            writer.close()


def _eight_mebibytes() -> Iterator[bytes]:
    chunk = b"x" * 65536
    for _ in range(128):
        yield chunk


def _post(port: int, headers: dict[str, str], body: Any, chunked: bool) -> tuple[int, Any]:
    """What http.client (which writes the whole body before reading) gets back."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=HANG_GUARD)
    try:
        connection.request("POST", "/auth/register", body=body, headers=headers,
                           encode_chunked=chunked)
        response = connection.getresponse()
        return response.status, orjson.loads(response.read())
    finally:
        connection.close()


async def test_an_oversized_body_is_answered_413_to_clients_that_write_it_all(
        stack: Stack, redis_cluster: Any) -> None:
    async with gateway_process(stack) as gw:
        body = b"x" * (8 * 1024 * 1024)
        status, problem = await asyncio.to_thread(
            _post, gw.port, {"Content-Type": "application/json"}, body, False)
        assert (status, problem["code"]) == (413, "payload_too_large")

        status, problem = await asyncio.to_thread(
            _post, gw.port, {"Content-Type": "application/json",
                             "Transfer-Encoding": "chunked"}, _eight_mebibytes(), True)
        assert (status, problem["code"]) == (413, "payload_too_large")
        assert stack.auth.requests == []


async def test_requests_the_parser_refuses_get_problem_json(stack: Stack,
                                                            redis_cluster: Any) -> None:
    async with gateway_process(stack) as gw:
        for request in (b"GET /health/live HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n",
                        b"GET /health/live HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                        b"Content-Length: 2\r\n\r\nab",
                        b"POST /auth/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                        b"\r\n\r\nzz\r\n"):
            reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
            writer.write(request)
            raw = await read_answer(reader)
            writer.close()
            assert status_of(raw) == 400, raw
            headers, problem = problem_of(raw)
            assert headers[b"content-type"] == b"application/problem+json"
            assert problem["code"] == "invalid_http"
            assert headers[b"x-request-id"].decode() == problem["request_id"]

