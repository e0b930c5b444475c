"""Routes of the account pages and their static assets, with the headers they carry.

Every response gets a strict Content-Security-Policy (no inline script or style, fetch
only to this origin), `Referrer-Policy: no-referrer` and `nosniff`. Pages are never
cached (`no-store`); assets are named by a content hash in their query, so a URL whose
hash matches is immutable and any other is revalidated by its ETag."""

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import jinja2
from fastapi import APIRouter, Request, Response

_HERE = Path(__file__).parent

CONTENT_SECURITY_POLICY = (
    # img-src data: only for the MFA enrolment's QR code, an SVG data URI from the API
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"


@dataclass(frozen=True, slots=True)
class _Page:
    template: str
    title: str
    scripts: tuple[str, ...]  # after common.js, in this order (plain scripts, no build step)


_LINK_PAGE = ("links.js",)
# Path -> page. The gateway routes exactly these (and STATIC_PATHS), none needing a token.
_PAGES = {
    "/account": _Page("account.html", "Your account", ("mfa.js", "account.js")),
    "/account/verify": _Page("verify.html", "Confirm your email address", _LINK_PAGE),
    "/account/reset": _Page("reset.html", "Choose a new password", _LINK_PAGE),
    "/account/email": _Page("email.html", "Confirm your new email address", _LINK_PAGE),
}
_JS, _CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
_ASSETS = {"common.js": _JS, "links.js": _JS, "mfa.js": _JS, "account.js": _JS,
           "account.css": _CSS}
PAGE_PATHS = tuple(_PAGES)
STATIC_PATHS = tuple(f"/account/static/{name}" for name in _ASSETS)


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    version: str  # content hash: the `?v=` of the URL pages use, and the ETag

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


@functools.cache
def _asset(name: str) -> _Asset:
    body = (_HERE / "static" / name).read_bytes()
    return _Asset(body, hashlib.sha256(body).hexdigest()[:16])


def asset_url(name: str) -> str:
    return f"/account/static/{name}?v={_asset(name).version}"


@functools.cache
def _templates() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined)
    environment.globals["asset_url"] = asset_url
    return environment


router = APIRouter(include_in_schema=False)


def _page_route(path: str, page: _Page) -> None:
    async def show() -> Response:
        html = _templates().get_template(page.template).render(
            title=page.title, scripts=("common.js", *page.scripts))
        return Response(html, media_type="text/html; charset=utf-8",
                        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"})

    show.__name__ = f"page_{page.template.removesuffix('.html')}"
    router.add_api_route(path, show, methods=["GET", "HEAD"])


for _path, _page in _PAGES.items():
    _page_route(_path, _page)


def _asset_route(name: str, media_type: str) -> None:
    async def serve(request: Request) -> Response:
        asset = _asset(name)
        cache = (_IMMUTABLE if request.query_params.get("v") == asset.version
                 else _REVALIDATE)
        headers = {**SECURITY_HEADERS, "Cache-Control": cache, "ETag": asset.etag}
        if asset.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=media_type, headers=headers)

    serve.__name__ = f"asset_{name.replace('.', '_')}"
    router.add_api_route(f"/account/static/{name}", serve, methods=["GET", "HEAD"])


for _name, _media_type in _ASSETS.items():
    _asset_route(_name, _media_type)
