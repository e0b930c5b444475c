"""The user service's internal API, with a bounded time for every call.

Anything but a documented answer (timeout, refused connection, 5xx, an unexpected status)
becomes UsersUnavailable (503 `upstream_unavailable` with Retry-After): never a hang,
never a 500."""

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx

from auth_service.errors import (
    EmailTaken,
    InvalidMfaCode,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    MfaNotPending,
    UserNotFound,
    UsersUnavailable,
)
from shared import current_request_id, get_logger, instrument_httpx_client

_log = get_logger("users_client")


@dataclass(frozen=True, slots=True)
class Credentials:
    id: str
    email: str
    password_hash: str
    role: str
    is_active: bool
    email_verified: bool = False
    mfa_enabled: bool = False


@dataclass(frozen=True, slots=True)
class Enrolled:
    """A confirmed TOTP enrolment: the step of the confirming code, the recovery codes."""

    step: int
    recovery_codes: list[str]


# The user service's 409 codes of its MFA routes, as domain errors.
_MFA_CONFLICTS: dict[str, type[Exception]] = {
    "mfa_already_enabled": MfaAlreadyEnabled,
    "mfa_not_pending": MfaNotPending,
    "mfa_not_enabled": MfaNotEnabled,
}


class UsersClient:
    def __init__(
        self, base_url: str, internal_token: str, *, timeout: float, retry_after: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.timeout = timeout
        self.retry_after = retry_after
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers={"X-Internal-Token": internal_token},
            timeout=httpx.Timeout(timeout, pool=timeout),
            transport=transport,
            follow_redirects=False,
        )
        instrument_httpx_client(self._client)  # spans + traceparent, when tracing is on

    async def aclose(self) -> None:
        await self._client.aclose()

    def _unavailable(self) -> UsersUnavailable:
        return UsersUnavailable(self.retry_after)

    async def _call(
        self, method: str, path: str, *, expect: frozenset[int], json: Any = None
    ) -> httpx.Response:
        headers = {"X-Request-ID": current_request_id() or ""}
        try:
            # httpx bounds each phase; this bounds the whole call (connect + write + read).
            async with asyncio.timeout(self.timeout):
                response = await self._client.request(method, path, json=json, headers=headers)
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            _log.warning("user_service_unreachable", method=method, path=path,
                         error=type(exc).__name__)
            raise self._unavailable() from None
        if response.status_code not in expect:
            _log.error("user_service_unexpected_status", method=method, path=path,
                       status=response.status_code)
            raise self._unavailable()
        return response

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            _log.error("user_service_bad_body", status=response.status_code)
            raise self._unavailable()
        return body

    async def create_user(
        self, email: str, password_hash: str, display_name: str | None
    ) -> dict[str, Any]:
        """The created public user; EmailTaken on 409."""
        payload: dict[str, Any] = {"email": email, "password_hash": password_hash,
                                   "role": "user"}
        if display_name is not None:
            payload["display_name"] = display_name
        response = await self._call("POST", "/internal/users", json=payload,
                                    expect=frozenset({201, 409}))
        if response.status_code == 409:
            raise EmailTaken(email)
        return self._json(response)

    async def credentials(self, email: str) -> Credentials | None:
        response = await self._call("POST", "/internal/credentials", json={"email": email},
                                    expect=frozenset({200, 404}))
        return self._credentials(response)

    async def credentials_by_id(self, user_id: str) -> Credentials | None:
        response = await self._call("GET", f"/internal/users/{user_id}/credentials",
                                    expect=frozenset({200, 404, 422}))
        return self._credentials(response)

    async def mark_email_verified(self, user_id: str, email: str) -> bool:
        """False unless `email` is still the user's address."""
        response = await self._call("POST", f"/internal/users/{user_id}/email-verified",
                                    json={"email": email}, expect=frozenset({204, 404, 422}))
        return response.status_code == 204

    async def change_email(self, user_id: str, email: str) -> dict[str, Any] | None:
        """The user with the new (verified) address; None when deleted; EmailTaken."""
        response = await self._call("PUT", f"/internal/users/{user_id}/email",
                                    json={"email": email}, expect=frozenset({200, 404, 409}))
        if response.status_code == 409:
            raise EmailTaken(email)
        return None if response.status_code == 404 else self._json(response)

    def _credentials(self, response: httpx.Response) -> Credentials | None:
        if response.status_code != 200:
            return None
        body = self._json(response)
        try:
            return Credentials(
                id=str(body["id"]), email=str(body["email"]),
                password_hash=str(body["password_hash"]), role=str(body.get("role", "user")),
                is_active=bool(body.get("is_active", False)),
                email_verified=bool(body.get("email_verified", False)),
                mfa_enabled=bool(body.get("mfa_enabled", False)),
            )
        except KeyError:
            _log.error("user_service_bad_body", path="/internal/credentials")
            raise self._unavailable() from None

    async def set_password_hash(self, user_id: str, password_hash: str) -> bool:
        response = await self._call("PUT", f"/internal/users/{user_id}/password-hash",
                                    json={"password_hash": password_hash},
                                    expect=frozenset({204, 404}))
        return response.status_code == 204

    async def get_user(self, user_id: str) -> dict[str, Any] | None:
        """The user, or None when deleted (the user service hard-deletes)."""
        response = await self._call("GET", f"/internal/users/{user_id}",
                                    expect=frozenset({200, 404}))
        return None if response.status_code == 404 else self._json(response)

    async def _mfa_call(self, method: str, path: str, *, expect: frozenset[int],
                        json: Any = None) -> httpx.Response:
        """A call to an MFA route: 404 is UserNotFound, a 409 its conflict's error."""
        response = await self._call(method, path, json=json,
                                    expect=expect | {404, 409, 422})
        if response.status_code in (404, 422):  # 422: not a user id at all
            raise UserNotFound
        if response.status_code == 409:
            code = self._json(response).get("code")
            error = _MFA_CONFLICTS.get(str(code))
            if error is None:
                _log.error("user_service_unexpected_conflict", path=path, code=code)
                raise self._unavailable()
            raise error
        return response

    async def start_totp(self, user_id: str) -> str:
        """A new pending TOTP secret (base32); MfaAlreadyEnabled."""
        response = await self._mfa_call("POST", f"/internal/users/{user_id}/mfa/totp",
                                        expect=frozenset({201}))
        return str(self._field(response, "secret"))

    async def confirm_totp(self, user_id: str, code: str) -> Enrolled:
        """MFA on, with a fresh set of recovery codes; InvalidMfaCode, MfaNotPending,
        MfaAlreadyEnabled."""
        response = await self._mfa_call("POST", f"/internal/users/{user_id}/mfa/totp/confirm",
                                        json={"code": code}, expect=frozenset({200, 400}))
        if response.status_code == 400:
            raise InvalidMfaCode
        return Enrolled(step=int(self._field(response, "step")),
                        recovery_codes=self._codes(response))

    async def verify_totp(self, user_id: str, code: str) -> int | None:
        """The TOTP step `code` matches, or None; MfaNotEnabled. Replays are the caller's
        to refuse (auth_service.mfa_tokens)."""
        response = await self._mfa_call("POST", f"/internal/users/{user_id}/mfa/verify",
                                        json={"code": code}, expect=frozenset({200}))
        body = self._json(response)
        step = body.get("step")
        return int(step) if body.get("valid") is True and step is not None else None

    async def consume_recovery_code(self, user_id: str, code: str) -> bool:
        """True when `code` was an unused recovery code of the user (now used)."""
        response = await self._mfa_call(
            "POST", f"/internal/users/{user_id}/mfa/recovery-codes/consume",
            json={"code": code}, expect=frozenset({200}))
        return self._json(response).get("valid") is True

    async def new_recovery_codes(self, user_id: str) -> list[str]:
        """A new set of recovery codes (the old set dies); MfaNotEnabled."""
        response = await self._mfa_call("POST", f"/internal/users/{user_id}/mfa/recovery-codes",
                                        expect=frozenset({200}))
        return self._codes(response)

    def _field(self, response: httpx.Response, name: str) -> Any:
        value = self._json(response).get(name)
        if value is None or isinstance(value, bool):
            _log.error("user_service_bad_body", path=str(response.request.url.path), field=name)
            raise self._unavailable()
        return value

    def _codes(self, response: httpx.Response) -> list[str]:
        codes = self._field(response, "recovery_codes")
        if not isinstance(codes, list):
            _log.error("user_service_bad_body", field="recovery_codes")
            raise self._unavailable()
        return [str(code) for code in codes]

    async def disable_mfa(self, user_id: str) -> None:
        """MFA off: secret and recovery codes gone (idempotent)."""
        response = await self._call("DELETE", f"/internal/users/{user_id}/mfa",
                                    expect=frozenset({204, 404, 422}))
        if response.status_code != 204:
            raise UserNotFound

    async def live(self) -> None:
        """Readiness: raises unless the user service answers /health/live."""
        response = await self._client.get("/health/live")
        response.raise_for_status()
