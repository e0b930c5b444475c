"""Serving an ASGI app the way every service and the gateway run (opt-in: uvicorn)."""

from shared.server._limits import ConnectionGuard, ConnectionLimits, Refusal
from shared.server._protocol import ServiceHttpProtocol, problem_response
from shared.server._serve import serve, service_config

__all__ = ["ConnectionGuard", "ConnectionLimits", "Refusal", "ServiceHttpProtocol",
           "problem_response", "serve", "service_config"]
