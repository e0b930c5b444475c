"""The gateway's ASGI application: the per-request hot path, in the order that matters.

correlation ID -> client IP -> own endpoints (exempt) -> rate limit -> framing, size and
path checks -> route -> token -> body -> upstream. Every response the gateway sends
carries X-Request-ID and, once the limiter has decided, the rate-limit headers."""

import contextlib
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import orjson
from starlette.types import Message, Receive, Scope, Send

from gateway.config import Settings
from gateway.cors import CorsPolicy, cors_request
from gateway.headers import Header, RequestHeaders, scan_request
from gateway.metrics import Metrics, Snapshot
from gateway.problems import send_problem, send_response
from gateway.proxy import BodyTooLarge, ClientGone, UpstreamError, read_body
from gateway.ratelimit import CompiledPolicy
from gateway.resources import Resources
from gateway.routing import Route, Router, Target, path_problem, query_problem
from shared import (
    ClientIpResolver,
    TokenError,
    bearer_challenge,
    close_envelope,
    get_logger,
    metrics_listener,
    open_envelope,
)

_log = get_logger("gateway")
_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")
_RETRY_SOON = (b"retry-after", b"1")


class Gateway:
    def __init__(
        self,
        settings: Settings,
        open_resources: Callable[[Settings], AbstractAsyncContextManager[Resources]],
    ) -> None:
        self.settings = settings
        self._open_resources = open_resources
        self.resources: Resources | None = None
        self.metrics = Metrics()
        self.metrics.watch(self._snapshot)
        self.router = Router()
        self.resolver = ClientIpResolver(settings.trusted_networks)
        self.cors = settings.cors_policy
        prefix = settings.RATE_LIMIT_KEY_PREFIX
        self.default_policy = CompiledPolicy(settings.default_policy, prefix)
        self.policies = {path: CompiledPolicy(policy, prefix)
                         for path, policy in settings.route_policies.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        try:
            async with (
                self._open_resources(self.settings) as resources,
                metrics_listener(self.settings.METRICS_HOST, self.settings.METRICS_PORT,
                                 self.metrics.render),  # private: never the public port
            ):
                self.resources = resources
                await send({"type": "lifespan.startup.complete"})
                message = await receive()  # lifespan.shutdown
                self.resources = None
        except Exception as exc:
            _log.exception("lifespan_failed")
            failed: Message = {"type": "lifespan.startup.failed", "message": repr(exc)}
            await send(failed if message["type"] == "lifespan.startup"
                       else {"type": "lifespan.shutdown.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = scan_request(scope["headers"])
        client = scope.get("client")
        peer = client[0] if client else "unknown"
        envelope = open_envelope(request.request_id, peer, request.forwarded_for,
                                 self.resolver)
        request_id = envelope.request_id
        path: str = scope["path"]
        status = 500
        try:
            own = self.router.own(path)
            if own is not None:
                status = await self._own(own, scope, send, request_id)
            else:
                exchange = Exchange(scope, receive, send, request, request_id, peer,
                                    envelope.client_ip or "unknown",
                                    [(b"x-request-id", request_id.encode())])
                if self.cors is None:
                    status = await self._limited(exchange)
                else:
                    status = await self._cross_origin(exchange, self.cors)
        except ClientGone:
            status = 499  # nothing to answer: the client left mid-body
        except Exception:
            _log.exception("request_failed")
            # Suppressed when the response had already started: nothing more to say.
            with contextlib.suppress(Exception):
                status = await send_problem(send, 500, "internal_error", "Internal error",
                                            request_id=request_id,
                                            headers=[(b"x-request-id", request_id.encode())])
        finally:
            close_envelope(envelope, self.metrics.http, method=scope["method"],
                           route=self.router.label(path), path=path, status=status,
                           quiet=path.startswith("/health/"))

    async def _cross_origin(self, x: "Exchange", cors: CorsPolicy) -> int:
        """Stage 0, when CORS is configured: preflights are answered here (never forwarded,
        no token, not counted by the rate limit: browsers send them on their own and cache
        them for CORS_MAX_AGE_SECONDS); every other answer carries the CORS headers."""
        origin, method, requested = cors_request(x.scope["headers"])
        if x.scope["method"] == "OPTIONS" and origin is not None and method is not None:
            if self.router.match(x.scope["path"]) is None:
                return await x.problem(404, "not_found", "No such resource")
            refused = cors.preflight_problem(origin, method, requested)
            if refused is not None:
                x.headers.append((b"vary", b"Origin"))
                return await x.problem(403, "cors_not_allowed", refused)
            return await send_response(x.send, 204, [*x.headers,
                                                     *cors.preflight_headers(origin)], b"")
        x.headers += cors.answer_headers(origin)
        return await self._limited(x)

    async def _limited(self, x: "Exchange") -> int:
        """Stage 1: the rate limit (its headers go on every later answer)."""
        resources = self.resources
        assert resources is not None, "lifespan did not run"
        if resources.limiter is not None:
            path = x.scope["path"]
            policy = self.policies.get(path)
            if policy is None:  # a route template's (`/auth/sessions/{session_id}`), if any
                policy = self.policies.get(self.router.label(path), self.default_policy)
            decision = await resources.limiter.check(policy, x.client_ip)
            if decision is None:
                self.metrics.ratelimit.labels("unavailable", "refused").inc()
                retry = str(max(1, round(resources.limiter.breaker.cooldown))).encode()
                x.headers += [policy.policy_header, policy.limit_header,
                              (b"retry-after", retry)]
                return await x.problem(503, "rate_limiter_unavailable",
                                       "Rate limiting is unavailable; retry later")
            x.headers += policy.headers(decision)
            self.metrics.ratelimit.labels(
                decision.source, "allowed" if decision.allowed else "refused").inc()
            if not decision.allowed:
                return await x.problem(429, "rate_limited", "Too many requests")
        return await self._checked(x)

    def _framing_problem(self, x: "Exchange") -> tuple[int, str, str] | None:
        """Size, framing and path checks on what the HTTP server parsed."""
        settings = self.settings
        request = x.request
        raw_path = x.raw_path
        query: bytes = x.scope["query_string"]
        if len(raw_path) + len(query) + 1 > settings.MAX_URL_LENGTH:
            return 414, "uri_too_long", "The request URL is too long"
        if request.size > settings.MAX_HEADER_BYTES:
            return 431, "headers_too_large", "The request headers are too large"
        lengths = request.content_lengths
        if lengths and (request.transfer_encoding is not None or len(lengths) > 1
                        or not lengths[0].isdigit()):
            return 400, "invalid_framing", "Ambiguous or invalid Content-Length"
        encoding = request.transfer_encoding
        if encoding is not None and encoding.strip().lower() != b"chunked":
            return 400, "invalid_framing", "Only chunked Transfer-Encoding is accepted"
        problem = path_problem(raw_path) or query_problem(query)
        if problem is not None:
            return 400, "invalid_path", problem
        return None

    async def _checked(self, x: "Exchange") -> int:
        """Stage 2: framing and size, the route, the token, the body."""
        resources = self.resources
        assert resources is not None
        problem = self._framing_problem(x)
        if problem is not None:
            return await x.problem(*problem)
        route = self.router.match(x.scope["path"])
        if route is None:
            return await x.problem(404, "not_found", "No such resource")
        lengths = x.request.content_lengths
        if lengths and int(lengths[0]) > self.settings.MAX_BODY_BYTES:
            return await x.problem(413, "payload_too_large", "The request body is too large",
                                   _CLOSE)
        if route.protected and resources.authenticator is not None:
            try:
                await resources.authenticator.check(x.request.authorization)
            except TokenError as exc:
                if exc.status == 503:  # revocation state unknown: fail closed (RevocationFeed)
                    return await x.problem(503, exc.code, exc.detail, _RETRY_SOON)
                challenge = bearer_challenge(exc.code).encode()
                return await x.problem(401, exc.code, exc.detail,
                                       (b"www-authenticate", challenge))
        body = None
        if (lengths and lengths[0] != b"0") or x.request.transfer_encoding is not None:
            try:
                body = await read_body(x.receive, self.settings.MAX_BODY_BYTES)
            except BodyTooLarge:
                return await x.problem(413, "payload_too_large",
                                       "The request body is too large", _CLOSE)
        return await self._forward(x, route, body)

    async def _forward(self, x: "Exchange", route: Route, body: bytes | None) -> int:
        """Stage 3: the upstream call, and its answer with our headers."""
        resources = self.resources
        assert resources is not None
        query: bytes = x.scope["query_string"]
        target = x.raw_path + b"?" + query if query else x.raw_path
        proto: str = x.scope["scheme"]
        forwarded_proto = x.request.forwarded_proto
        if forwarded_proto in ("http", "https") and self.resolver.peer_trusted(x.peer):
            proto = forwarded_proto  # a trusted proxy terminated TLS
        forward = x.request.forward
        forward += [(b"x-request-id", x.request_id.encode()),
                    (b"x-forwarded-for", x.client_ip.encode()),
                    (b"x-forwarded-proto", proto.encode())]
        method: str = x.scope["method"]
        upstream = route.target.value
        started = time.perf_counter()
        try:
            status, upstream_headers, payload = await resources.proxy.forward(
                upstream, method, target, forward, body)
        except UpstreamError as exc:
            self.metrics.upstream_errors.labels(upstream, exc.code).inc()
            return await x.problem(exc.status, exc.code, exc.detail)
        finally:
            self.metrics.upstream_latency.labels(upstream).observe(
                time.perf_counter() - started)
        upstream_headers += x.headers
        return await send_response(x.send, status, upstream_headers, payload,
                                   head=method == "HEAD")

    def _snapshot(self) -> Snapshot:
        return self.resources.snapshot() if self.resources is not None else Snapshot()

    async def _own(self, route: Route, scope: Scope, send: Send, request_id: str) -> int:
        headers: list[Header] = [(b"x-request-id", request_id.encode()),
                                 (b"cache-control", b"no-store")]
        if scope["method"] not in ("GET", "HEAD"):
            return await send_problem(send, 405, "method_not_allowed", "Use GET",
                                      request_id=request_id,
                                      headers=[*headers, (b"allow", b"GET, HEAD")])
        head = scope["method"] == "HEAD"
        if route.target is Target.LIVE:
            return await send_response(send, 200, [*headers, _JSON], b'{"status":"ok"}',
                                       head=head)
        resources = self.resources
        assert resources is not None
        ready, checks = await resources.readiness.check()
        if ready:
            return await send_response(
                send, 200, [*headers, _JSON],
                orjson.dumps({"status": "ok", "checks": checks}), head=head)
        return await send_problem(send, 503, "not_ready", "A dependency is unavailable",
                                  request_id=request_id,
                                  headers=[*headers, (b"retry-after", b"5")],
                                  extra={"checks": checks})


@dataclass(slots=True)
class Exchange:
    """One proxied request on its way through the stages: what the client sent, who it is,
    and the headers every answer to it carries (request ID, then the rate-limit headers)."""

    scope: Scope
    receive: Receive
    send: Send
    request: RequestHeaders
    request_id: str
    peer: str  # the socket peer
    client_ip: str  # the client, through trusted proxies
    headers: list[Header]

    @property
    def raw_path(self) -> bytes:
        raw: bytes = self.scope.get("raw_path") or self.scope["path"].encode()
        return raw

    async def problem(self, status: int, code: str, detail: str, *extra: Header) -> int:
        """Answer with a problem+json carrying this request's headers (and `extra`)."""
        return await send_problem(self.send, status, code, detail,
                                  request_id=self.request_id,
                                  headers=[*self.headers, *extra] if extra else self.headers)
