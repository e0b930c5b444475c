"""The account pages as HTTP sees them: strict headers on every page and asset, no inline
script or style, assets with their content types and caching, nothing spent by a GET."""

import re

import httpx
import pytest

from auth_service.pages import PAGE_PATHS, STATIC_PATHS

from .conftest import AuthApp

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
       "img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
JS = "text/javascript; charset=utf-8"
# The scripts each page loads, in order: the shared helpers, then the page's own.
SCRIPTS = {"/account": ["common.js", "mfa.js", "account.js"],
           **{p: ["common.js", "links.js"] for p in ("/account/verify", "/account/reset",
                                                     "/account/email")}}
ASSET_URL = re.compile(r'(?:src|href)="(/account/static/[a-z]+\.(?:js|css))\?v=([0-9a-f]{16})"')


def _strict(headers: httpx.Headers) -> None:
    assert headers.get("content-security-policy") == CSP
    assert headers.get("referrer-policy") == "no-referrer"
    assert headers.get("x-content-type-options") == "nosniff"
    assert headers.get("x-frame-options") == "DENY"


@pytest.mark.parametrize("path", PAGE_PATHS)
async def test_page_headers_and_no_inline_code(auth: AuthApp, path: str) -> None:
    response = await auth.client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    _strict(response.headers)
    html = response.text
    # Every script is an external same-origin file, shared helpers first; no style element,
    # attribute or handler.
    assert re.findall(r"<script\b[^>]*>", html) == [
        f'<script src="/account/static/{name}?v={_version(html, name)}" defer>'
        for name in SCRIPTS[path]]
    assert "<style" not in html
    assert not re.search(r"\sstyle=", html)
    assert not re.search(r"\son[a-z]+=", html)
    assert "javascript:" not in html
    assert {m.group(1) for m in ASSET_URL.finditer(html)} == {
        "/account/static/account.css", *(f"/account/static/{n}" for n in SCRIPTS[path])}
    assert {m.group(1) for m in ASSET_URL.finditer(html)} <= set(STATIC_PATHS)
    # Every input has a label, and messages go to a live region.
    for field in re.findall(r'<input id="([a-z-]+)"', html):
        assert f'<label for="{field}">' in html, field
    assert 'id="message" class="message" role="status" aria-live="polite"' in html


def _version(html: str, name: str) -> str:
    return next(m.group(2) for m in ASSET_URL.finditer(html) if m.group(1).endswith(name))


@pytest.mark.parametrize(("page_path", "name", "content_type"), [
    ("/account", "common.js", JS),
    ("/account", "mfa.js", JS),
    ("/account", "account.js", JS),
    ("/account/reset", "links.js", JS),
    ("/account", "account.css", "text/css; charset=utf-8"),
])
async def test_assets_are_typed_and_cached_by_version(auth: AuthApp, page_path: str, name: str,
                                                      content_type: str) -> None:
    page = await auth.client.get(page_path)
    version = _version(page.text, name)
    path = f"/account/static/{name}"

    current = await auth.client.get(f"{path}?v={version}")
    assert current.status_code == 200
    assert current.headers["content-type"] == content_type
    assert current.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert current.headers["etag"] == f'"{version}"'
    _strict(current.headers)
    assert current.content

    # An unversioned or stale URL is revalidated, and an unchanged asset answers 304.
    stale = await auth.client.get(f"{path}?v=0000000000000000")
    assert stale.headers["cache-control"] == "no-cache"
    assert stale.content == current.content
    revalidated = await auth.client.get(path, headers={"If-None-Match": current.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.content == b""
    assert revalidated.headers["etag"] == current.headers["etag"]


async def test_the_scripts_keep_tokens_in_memory(auth: AuthApp) -> None:
    scripts = {name: (await auth.client.get(f"/account/static/{name}")).text
               for name in ("common.js", "links.js", "mfa.js", "account.js")}
    for name, script in scripts.items():
        code = "\n".join(line for line in script.splitlines()
                         if not line.lstrip().startswith("//"))
        for storage in ("localStorage", "sessionStorage", "document.cookie", "indexedDB"):
            assert storage not in code, (name, storage)
    # The one fetch wrapper every call goes through: never sent to another origin.
    assert 'credentials: "same-origin"' in scripts["common.js"]
    assert "fetch(" not in scripts["links.js"] + scripts["mfa.js"] + scripts["account.js"]


async def test_unknown_page_paths_are_not_found(auth: AuthApp) -> None:
    for path in ("/account/static/missing.js", "/account/other", "/account/static/"):
        assert (await auth.client.get(path)).status_code == 404, path
    assert (await auth.client.post("/account/verify")).status_code == 405
