"""CORS as a browser sees it: headless Chromium (Debian's, driven by Selenium through
Debian's chromedriver) loads a page from a second origin which, with fetch(), registers,
logs in and reads /users/me through a real gateway; a page from an origin the gateway
does not allow is blocked by the browser itself."""

import functools
import threading
import uuid
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest
from selenium import webdriver
from selenium.webdriver.support.wait import WebDriverWait

from devstack.ports import free_port

HANG_GUARD = 60  # seconds for the page to report; the verdict is what the page saw

PAGE = """<!doctype html><meta charset="utf-8"><title>spa</title><pre id="result"></pre>
<script>
const gateway = new URL(location).searchParams.get("gateway");
const email = new URL(location).searchParams.get("email");
const password = "correct horse battery staple 42";
const json = {"Content-Type": "application/json"};
async function run() {
  const seen = {};
  try {
    const registered = await fetch(gateway + "/auth/register", {method: "POST", headers: json,
      body: JSON.stringify({email, password})});
    seen.register = registered.status;
    seen.request_id = registered.headers.get("X-Request-ID");
    seen.ratelimit_policy = registered.headers.get("RateLimit-Policy");
    const login = await fetch(gateway + "/auth/login", {method: "POST", headers: json,
      body: JSON.stringify({email, password})});
    seen.login = login.status;
    const token = (await login.json()).access_token;
    const me = await fetch(gateway + "/users/me", {headers: {"Authorization": "Bearer " + token}});
    seen.me = me.status;
    seen.me_email = (await me.json()).email;
    const anonymous = await fetch(gateway + "/users/me");
    seen.anonymous = anonymous.status;
    seen.anonymous_request_id = anonymous.headers.get("X-Request-ID");
  } catch (error) {
    seen.error = error.name;
  }
  document.getElementById("result").textContent = JSON.stringify(seen);
}
run();
</script>
"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """Two origins serving the same page: (allowed, not allowed)."""
    root = tmp_path_factory.mktemp("spa")
    (root / "index.html").write_text(PAGE)
    handler = functools.partial(_QuietHandler, directory=str(root))
    servers = [ThreadingHTTPServer(("127.0.0.1", free_port()), handler) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tuple(f"http://127.0.0.1:{s.server_address[1]}" for s in servers)  # type: ignore[misc]
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _visit(browser: webdriver.Chrome, page: str, gateway: str, email: str) -> dict[str, Any]:
    browser.get(f"{page}/index.html?gateway={gateway}&email={email}")
    text = WebDriverWait(browser, HANG_GUARD).until(
        lambda driver: driver.find_element("id", "result").text)
    seen: dict[str, Any] = orjson.loads(text)
    return seen


def test_a_page_on_an_allowed_origin_uses_the_api_and_a_stranger_is_blocked(
        stack: Any, browser: webdriver.Chrome, pages: tuple[str, str]) -> None:
    allowed, stranger = pages
    gateway = stack.add_gateway(env={"CORS_ALLOWED_ORIGINS": allowed})

    seen = _visit(browser, allowed, gateway, f"spa-{uuid.uuid4().hex[:10]}@example.com")
    assert "error" not in seen, seen
    assert (seen["register"], seen["login"], seen["me"], seen["anonymous"]) == (
        201, 200, 200, 401)
    assert seen["me_email"].startswith("spa-")
    assert seen["request_id"]  # exposed headers are readable by the page, also on a 401
    assert seen["anonymous_request_id"]
    assert seen["ratelimit_policy"]

    blocked = _visit(browser, stranger, gateway, f"spa-{uuid.uuid4().hex[:10]}@example.com")
    assert blocked == {"error": "TypeError"}  # fetch() refused by the browser's CORS check

