"""uvicorn's httptools protocol, with the writes of one event-loop turn sent as one.

uvicorn writes a response's head and its body with two `transport.write` calls, i.e. two
`send` syscalls (and two TCP segments) per response; on the gateway that was ~20% of its
CPU samples. Here they go through shared.CombiningTransport."""

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared._transport import CombiningTransport


class CombiningHttpToolsProtocol(HttpToolsProtocol):
    """The protocol every service serves HTTP with (`shared.serve`)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Flow control and addresses keep the real transport; responses use the combiner.
        self.transport = CombiningTransport(transport, self.loop)  # type: ignore[assignment]
