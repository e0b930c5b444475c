"""Serving an ASGI app the way every service and the gateway run (opt-in: uvicorn)."""

from shared.server._protocol import CombiningHttpToolsProtocol
from shared.server._serve import serve

__all__ = ["CombiningHttpToolsProtocol", "serve"]
