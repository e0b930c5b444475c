"""No spelling of a path reaches an upstream other than the one the router matched."""

import orjson
import pytest

from gateway.routing import Route, Router, Target, path_problem

from .conftest import RunningGateway, Stack, get, raw_request, sign

TRICKS = [
    "/users/../internal/x", "/%75sers/me", "//users/me", "/users%2fme", "/users%2Fme",
    "/auth/..%2finternal", "/auth/..%2Finternal", "/users/./me", "/users/%2e%2e/internal",
    "/users/me%00", "/users/me%0d%0aX-Injected:%201", "/users%5cme", "/users/%252e%252e",
    "/users/me/..", "/users/.", "/users/%zz", "/users/me%",
]


@pytest.mark.parametrize("path", TRICKS)
def test_ambiguous_raw_paths_are_refused(path: str) -> None:
    assert path_problem(path.encode()) is not None


@pytest.mark.parametrize("path", ["/users/me", "/users", "/auth/login",
                                  "/users/3f2b-9a?x", "/users/caf%C3%A9", "/users/a%20b",
                                  "/users/a:b@c"])
def test_plain_paths_are_accepted(path: str) -> None:
    assert path_problem(path.split("?")[0].encode()) is None


def test_router_table() -> None:
    router = Router()
    assert router.match("/users").target is Target.USERS  # type: ignore[union-attr]
    assert router.match("/users/me").protected  # type: ignore[union-attr]
    assert router.match("/auth/logout").protected  # type: ignore[union-attr]
    assert not router.match("/auth/login").protected  # type: ignore[union-attr]
    assert router.match("/.well-known/jwks.json").target is Target.AUTH  # type: ignore[union-attr]
    for path in ("/", "/usersx", "/auth", "/auth/", "/auth/other", "/internal/users",
                 "/users/internal/x", "/users/INTERNAL", "/INTERNAL/", "/USERS/me",
                 "/docs", "/openapi.json", "/health", "/health/"):
        assert router.match(path) is None, path
    assert router.own("/health/live") is not None
    assert router.own("/users/me") is None


SESSION_ROUTES = {
    "/auth/sessions": "/auth/sessions",
    "/auth/sessions/AbC_-0123456789abcdefgh": "/auth/sessions/{session_id}",
    "/auth/sessions/caf\u00e9 x": "/auth/sessions/{session_id}",  # the service refuses it
    "/auth/admin/users/3f2b9a1c-0000-4000-8000-000000000001/sessions":
        "/auth/admin/users/{user_id}/sessions",
    "/auth/admin/users/3f2b9a1c-0000-4000-8000-000000000001/sessions/AbC_-0123456789abcdefgh":
        "/auth/admin/users/{user_id}/sessions/{session_id}",
    "/auth/admin/users/3f2b9a1c-0000-4000-8000-000000000001/mfa":
        "/auth/admin/users/{user_id}/mfa",
}


# Account lifecycle (issue 17): path -> whether a token is needed at the gateway.
ACCOUNT_ROUTES = {
    "/auth/verify-email": False, "/auth/verify-email/resend": False,
    "/auth/verify-email/request": True, "/auth/password/forgot": False,
    "/auth/password/reset": False, "/auth/password/change": True,
    "/auth/email/change": True, "/auth/email/change/confirm": False,
    # MFA (issue 18)
    "/auth/login/mfa": False, "/auth/mfa/totp": True, "/auth/mfa/totp/confirm": True,
    "/auth/mfa/recovery-codes": True, "/auth/reauthenticate": True,
}


@pytest.mark.parametrize(("path", "protected"), ACCOUNT_ROUTES.items())
def test_account_routes(path: str, protected: bool) -> None:
    router = Router()
    route = router.match(path)
    assert route is not None
    assert route.target is Target.AUTH
    assert route.protected is protected
    assert router.label(path) == path
    for lookalike in (path + "/", path + "/x", path.upper()):
        assert router.match(lookalike) is None, lookalike


# The account pages and their assets: public, each an exact path.
PAGE_ROUTES = ("/account", "/account/verify", "/account/reset", "/account/email",
               "/account/static/common.js", "/account/static/links.js",
               "/account/static/mfa.js", "/account/static/account.js",
               "/account/static/account.css")


@pytest.mark.parametrize("path", PAGE_ROUTES)
def test_account_pages_need_no_token(path: str) -> None:
    router = Router()
    route = router.match(path)
    assert route == Route(Target.AUTH, protected=False)
    assert router.label(path) == path
    for lookalike in (path + "/", path + "/x", path.upper(), path + ".map"):
        assert router.match(lookalike) is None, lookalike
    assert router.match("/account/static/other.js") is None


@pytest.mark.parametrize(("path", "template"), SESSION_ROUTES.items())
def test_session_routes_need_a_token_and_are_labelled_by_template(path: str,
                                                                   template: str) -> None:
    router = Router()
    route = router.match(path)
    assert route is not None
    assert route.target is Target.AUTH
    assert route.protected
    assert router.label(path) == template


@pytest.mark.parametrize("path", [
    "/auth/sessions/", "/auth/sessions/a/b", "/auth/admin/users", "/auth/admin/users/x",
    "/auth/admin/users/x/sessions/", "/auth/admin/users//sessions", "/auth/admin/users/x/y",
    "/auth/admin/users/x/sessions/y/z", "/auth/admin/users/x/internal/sessions",
    "/auth/sessions/internal", "/auth/Sessions",
])
def test_session_route_lookalikes_are_not_routed(path: str) -> None:
    router = Router()
    assert router.match(path) is None
    assert router.label(path) == "<unmatched>"


@pytest.mark.parametrize("path", [*TRICKS, "/users\\me", "/users/me\x01"])
async def test_tricks_get_400_problem_and_are_never_forwarded(
        gw: RunningGateway, stack: Stack, path: str) -> None:
    token = sign()
    status, headers, body = await raw_request(
        gw.port, get(path, f"Authorization: Bearer {token}"))
    assert status == 400
    assert headers.get("content-type") == "application/problem+json"
    # The gateway's own check, or the HTTP parser's refusal of the request line.
    assert orjson.loads(body)["code"] in ("invalid_path", "invalid_http")
    assert "x-request-id" in headers
    assert not stack.users.requests
    assert not stack.auth.requests


@pytest.mark.parametrize("path", ["/INTERNAL/", "/internal/users", "/users/internal/x",
                                  "/auth/internal", "/nope", "/usersme", "/auth/x"])
async def test_unknown_and_internal_paths_are_404_problem(
        gw: RunningGateway, stack: Stack, path: str) -> None:
    status, headers, body = await raw_request(
        gw.port, get(path, f"Authorization: Bearer {sign()}"))
    assert status == 404
    problem = orjson.loads(body)
    assert problem["code"] == "not_found"
    assert problem["request_id"] == headers["x-request-id"]
    assert headers["content-type"] == "application/problem+json"
    assert "ratelimit" in headers
    assert "x-ratelimit-remaining" in headers
    assert not stack.users.requests
    assert not stack.auth.requests


async def test_protected_path_without_token_is_401_however_spelled(
        gw: RunningGateway, stack: Stack) -> None:
    for path in ("/users/me", "/users", "/users/", "/users/123?admin=1", "/auth/logout"):
        status, headers, _ = await raw_request(gw.port, get(path))
        assert status == 401, path
        assert headers["www-authenticate"] == 'Bearer realm="authstack"'
    assert not stack.users.requests
    assert not stack.auth.requests


def test_metric_labels_are_route_templates() -> None:
    from gateway.routing import Router

    router = Router()
    assert router.label("/users/me") == "/users/me"
    assert router.label("/users/3f1e2d") == "/users/{user_id}"
    assert router.label("/auth/login") == "/auth/login"
    assert router.label("/users/x/internal/y") == "<unmatched>"
    assert router.label("/anything/else") == "<unmatched>"
