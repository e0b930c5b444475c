"""R2: the proxy a first attempt gives: FastAPI catch-all route + one shared httpx.AsyncClient.

No features at all (no limiter, no JWT, no header hygiene beyond Host/framing), so the
gateway is compared with the bare cost of this stack. Upstreams from NAIVE_AUTH_URL and
NAIVE_USER_URL; run with `uvicorn bench.naive_proxy:app --workers 1`.
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request, Response

AUTH_URL = os.environ.get("NAIVE_AUTH_URL", "http://127.0.0.1:8001")
USER_URL = os.environ.get("NAIVE_USER_URL", "http://127.0.0.1:8002")
_DROP = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with httpx.AsyncClient(timeout=10.0) as client:
        app.state.client = client
        yield


app = FastAPI(lifespan=lifespan)


@app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def proxy(path: str, request: Request) -> Response:
    base = AUTH_URL if path.startswith(("auth/", ".well-known/")) else USER_URL
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROP}
    upstream = await request.app.state.client.request(
        request.method, f"{base}/{path}", params=request.query_params,
        headers=headers, content=await request.body())
    out = {k: v for k, v in upstream.headers.items() if k.lower() not in _DROP}
    return Response(upstream.content, upstream.status_code, out)
