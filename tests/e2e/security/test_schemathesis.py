"""Schemathesis against each service's OpenAPI schema, then the same operations through the
gateway (which has no schema of its own).

Per service (schema fetched from the service's own URL): every operation, with a bounded
number of generated examples, authenticated where it needs a bearer token, must not answer
5xx and must conform to the schema (documented status code, content type, body schema);
every operation with a security requirement must refuse an anonymous request with a 401
problem+json. Through the gateway: the same operations answer no 5xx, only documented
statuses or the gateway's own problem responses, and anonymous requests to protected routes
get 401.

Schemathesis 4's programmatic API (`operation.as_strategy()` under a Hypothesis `@given`),
not `schemathesis.pytest`: its fixture parametrisation does not work under this pytest.
Generation is derandomised (fixed examples for a given schema), without a database or
shrinking, so a run is repeatable and bounded in time. Failures are collected over all
operations and reported together with schemathesis's own report (and a curl command)."""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.stack import Stack

PASSWORD = "correct horse battery staple 42"
# Generous limits so neither the gateway's limiter nor the login throttle shapes the answers
# (both are tested elsewhere), and cheap argon2 so hashing does not dominate the run.
FUZZ_ENV = {
    # The bearer paths with a credential policy of their own go back to the default bucket:
    # the limiter runs before the token check, so their anonymous cases would meet a 429.
    "gateway": {"RATE_LIMIT_REQUESTS": "1000000",
                "RATE_LIMIT_ROUTES": "/auth/password/change=default,/auth/email/change=default,"
                                     "/auth/verify-email/request=default,"
                                     "/auth/reauthenticate=default,/auth/mfa/totp=default,"
                                     "/auth/mfa/totp/confirm=default"},
    "auth-service": {"THROTTLE_ACCOUNT_FREE_FAILURES": "1000000",
                     "THROTTLE_IP_FREE_FAILURES": "1000000",
                     "THROTTLE_PAIR_FREE_FAILURES": "1000000",
                     "THROTTLE_PASSWORD_FREE_FAILURES": "1000000",
                     "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_COST_KIB": "1024"},
}
EXAMPLES = 25  # per operation, against the service itself
GATEWAY_EXAMPLES = 12  # per operation, through the gateway
ANONYMOUS_EXAMPLES = 5  # per protected operation, without credentials
CONFORMANCE = [not_a_server_error, status_code_conformance, content_type_conformance,
               response_schema_conformance]
# The gateway's own problem answers (bad path/query, unknown route, too large, rate limit).
GATEWAY_OWN = {400, 404, 413, 414, 429, 431}
PROBLEM = "application/problem+json"
# What each schema must at least contain: a schema that lost operations fails loudly.
EXPECTED = {
    "auth-service": {"POST /auth/register", "POST /auth/login", "POST /auth/refresh",
                     "POST /auth/logout", "GET /.well-known/jwks.json", "GET /auth/sessions",
                     "DELETE /auth/sessions", "DELETE /auth/sessions/{session_id}",
                     "GET /auth/admin/users/{user_id}/sessions",
                     "DELETE /auth/admin/users/{user_id}/sessions",
                     "DELETE /auth/admin/users/{user_id}/sessions/{session_id}",
                     "POST /auth/verify-email/request", "POST /auth/verify-email/resend",
                     "POST /auth/verify-email", "POST /auth/password/forgot",
                     "POST /auth/password/reset", "POST /auth/password/change",
                     "POST /auth/email/change", "POST /auth/email/change/confirm",
                     "POST /auth/login/mfa", "POST /auth/mfa/totp", "DELETE /auth/mfa/totp",
                     "POST /auth/mfa/totp/confirm", "POST /auth/mfa/recovery-codes",
                     "POST /auth/reauthenticate", "DELETE /auth/admin/users/{user_id}/mfa"},
    "user-service": {"GET /users/me", "PATCH /users/me", "DELETE /users/me", "GET /users",
                     "GET /users/{user_id}", "PATCH /users/{user_id}",
                     "DELETE /users/{user_id}"},
}
# Operations that end the caller's account (or may end its session) get a fresh one for
# every example.
CONSUMES_ACCOUNT = {"DELETE /users/me", "DELETE /auth/sessions",
                    "DELETE /auth/sessions/{session_id}"}


def _settings(max_examples: int) -> settings:
    return settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def fuzz_stack(stack_starter: Callable[..., Any]) -> Iterator[Stack]:
    with stack_starter(FUZZ_ENV, prefix="fuzz") as handle:
        yield handle


@dataclass
class Accounts:
    """Bearer tokens on one stack: a plain user, an admin, fresh users on demand."""

    stack: Stack
    user: str = ""
    admin: str = ""

    def register(self, prefix: str = "fuzz") -> tuple[str, str]:
        """(email, access token) of a new account."""
        email = f"{prefix}-{uuid.uuid4().hex[:12]}@example.com"
        created = requests.post(f"{self.stack.auth_url}/auth/register", timeout=30,
                                json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
        return email, self.login(email)

    def login(self, email: str) -> str:
        login = requests.post(f"{self.stack.auth_url}/auth/login", timeout=30,
                              json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        return str(login.json()["access_token"])

    def promote(self, email: str) -> str:
        """Make the account an admin with the user service's CLI; a token with the role."""
        done = self.stack.service_command("user-service", "create-admin", "--email", email)
        assert done.returncode == 0, done.stdout + done.stderr
        return self.login(email)

    def token_for(self, label: str) -> str:
        if label in CONSUMES_ACCOUNT:
            return self.register("fuzz-victim")[1]
        admin_only = label.split(" ", 1)[1].startswith("/users") and "/users/me" not in label
        return self.admin if admin_only else self.user


@pytest.fixture(scope="module")
def accounts(fuzz_stack: Stack) -> Accounts:
    found = Accounts(fuzz_stack)
    found.user = found.register()[1]
    found.admin = found.promote(found.register("fuzz-admin")[0])
    return found


@pytest.fixture(scope="module")
def schemas(fuzz_stack: Stack) -> dict[str, Any]:
    urls = {"auth-service": fuzz_stack.auth_url, "user-service": fuzz_stack.user_url}
    return {name: schemathesis.openapi.from_url(f"{url}/openapi.json", timeout=30)
            for name, url in urls.items()}


def _operations(schema: Any, service: str) -> list[Any]:
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"{service}: unusable operation: {result.err()!r}"
        operations.append(result.ok())
    labels = {operation.label for operation in operations}
    assert EXPECTED[service] <= labels, f"{service}: missing {EXPECTED[service] - labels}"
    return operations


def _secured(operation: Any) -> bool:
    requirement = operation.definition.raw.get("security",
                                               operation.schema.raw_schema.get("security"))
    return bool(requirement)


def _documented(operation: Any) -> set[int]:
    return {int(code) for code in operation.responses.status_codes if code.isdigit()}


def _content_type(response: Any) -> str:
    values = response.headers.get("content-type") or [""]
    return str(values[0]).split(";")[0].strip().lower()


def _fuzz(operation: Any, examples: int, check: Callable[[Any], None]) -> list[str]:
    """Run `check(case)` on derandomised examples; the distinct failures it raised."""
    failures: dict[str, str] = {}

    @_settings(examples)
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        try:
            check(case)
        except FailureGroup as exc:  # schemathesis's report, with a curl command
            key = "; ".join(sorted(f"{f.title} {str(f.message)[:40]}" for f in exc.exceptions))
            failures.setdefault(key, f"{operation.label}: {exc}")
        except AssertionError as exc:  # ours: "<status>: <body>" (bodies carry request ids)
            key = str(exc).split(":", 1)[0][:80]
            failures.setdefault(key, f"{operation.label}: {exc}\n  request: {case.method} "
                                     f"{case.formatted_path} {case.query} {case.body!r}"[:2000])

    run()
    return list(failures.values())


def _report(failures: list[str]) -> str:
    return f"{len(failures)} failure(s):\n\n" + "\n\n".join(failures[:20])


@pytest.mark.parametrize("service", ["auth-service", "user-service"])
def test_operations_conform_to_the_schema(service: str, schemas: dict[str, Any],
                                          accounts: Accounts, fuzz_stack: Stack) -> None:
    """Authenticated where required: no 5xx, documented status, content type and body."""
    base_url = fuzz_stack.auth_url if service == "auth-service" else fuzz_stack.user_url
    failures: list[str] = []
    for operation in _operations(schemas[service], service):
        def check(case: Any, operation: Any = operation) -> None:
            headers = ({"Authorization": f"Bearer {accounts.token_for(operation.label)}"}
                       if _secured(operation) else None)
            response = case.call(base_url=base_url, headers=headers, timeout=30)
            case.validate_response(response, checks=CONFORMANCE, headers=headers)
            assert response.status_code < 500, f"{response.status_code}: {response.text}"

        failures += _fuzz(operation, EXAMPLES, check)
    assert not failures, _report(failures)


@pytest.mark.parametrize("service", ["auth-service", "user-service"])
def test_secured_operations_refuse_anonymous_requests(service: str, schemas: dict[str, Any],
                                                      fuzz_stack: Stack) -> None:
    """Every operation with a security requirement: 401 problem+json (documented) without
    credentials, whatever the rest of the request."""
    base_url = fuzz_stack.auth_url if service == "auth-service" else fuzz_stack.user_url
    secured = [op for op in _operations(schemas[service], service) if _secured(op)]
    assert secured, f"{service}: no operation declares a security requirement"
    failures: list[str] = []
    for operation in secured:
        def check(case: Any) -> None:
            case.headers.pop("Authorization", None)  # case-insensitive
            response = case.call(base_url=base_url, timeout=30)
            assert "authorization" not in {k.lower() for k in response.request.headers}
            assert response.status_code == 401, f"{response.status_code}: {response.text}"
            assert _content_type(response) == PROBLEM, response.headers
            case.validate_response(response, checks=CONFORMANCE)

        failures += _fuzz(operation, ANONYMOUS_EXAMPLES, check)
    assert not failures, _report(failures)


@pytest.mark.parametrize("service", ["auth-service", "user-service"])
def test_gateway_forwards_the_operations(service: str, schemas: dict[str, Any],
                                         accounts: Accounts, fuzz_stack: Stack) -> None:
    """The same operations through the gateway (its own /health/* are not forwarded): no
    5xx; a documented status or one of the gateway's own problem answers; protected routes
    refuse anonymous requests with 401 problem+json."""
    gateway = fuzz_stack.gateway_url
    operations = [op for op in _operations(schemas[service], service)
                  if not op.path.startswith("/health/")]
    failures: list[str] = []
    for operation in operations:
        allowed = _documented(operation) | GATEWAY_OWN

        def check(case: Any, operation: Any = operation, allowed: set[int] = allowed) -> None:
            headers = ({"Authorization": f"Bearer {accounts.token_for(operation.label)}"}
                       if _secured(operation) else None)
            response = case.call(base_url=gateway, headers=headers, timeout=30)
            case.validate_response(response, checks=[not_a_server_error], headers=headers)
            assert response.status_code in allowed, f"{response.status_code}: {response.text}"
            if response.status_code in GATEWAY_OWN - _documented(operation):
                assert _content_type(response) == PROBLEM, response.headers

        failures += _fuzz(operation, GATEWAY_EXAMPLES, check)

        if _secured(operation):
            def anonymous(case: Any) -> None:
                case.headers.pop("Authorization", None)
                response = case.call(base_url=gateway, timeout=30)
                assert response.status_code == 401, f"{response.status_code}: {response.text}"
                assert _content_type(response) == PROBLEM, response.headers

            failures += _fuzz(operation, ANONYMOUS_EXAMPLES, anonymous)
    assert not failures, _report(failures)
