"""Login: throttling before any work, the same work for unknown and known accounts, a new
session (refresh-token family) for the account. An account with MFA on gets no session
here: a correct password is answered with an mfa_token (MfaRequired), and the sign-in
goes on at /auth/login/mfa (auth_service.use_cases.mfa_login)."""

from dataclasses import dataclass

from auth_service.errors import (
    AuthError,
    EmailNotVerified,
    InvalidCredentials,
    LoginThrottled,
    MfaRequired,
)
from auth_service.metrics import LOGINS
from auth_service.mfa_tokens import MfaTokens
from auth_service.session_store import NewSession
from auth_service.throttle import LoginThrottle
from auth_service.token_pairs import TokenMinter
from auth_service.tokens import TokenPair, new_session_id
from auth_service.use_cases.sessions import Sessions
from auth_service.users_client import Credentials, UsersClient
from shared import get_logger
from shared.passwords import HashingBusy, PasswordCheck, PasswordHasher

_log = get_logger("login")


@dataclass(frozen=True, slots=True)
class SignIn:
    pair: TokenPair
    device_token: str  # marks this client as known to the account (auth_service.throttle)


class Login:
    def __init__(self, *, throttle: LoginThrottle, users: UsersClient, hasher: PasswordHasher,
                 minter: TokenMinter, sessions: Sessions, mfa_tokens: MfaTokens,
                 require_verified_email: bool = False) -> None:
        self.require_verified_email = require_verified_email  # REQUIRE_VERIFIED_EMAIL
        self.throttle = throttle
        self.users = users
        self.hasher = hasher
        self.minter = minter
        self.sessions = sessions
        self.mfa_tokens = mfa_tokens

    async def __call__(self, email: str, password: str, client_ip: str,
                       device_tokens: tuple[str | None, ...] = (),
                       user_agent: str = "") -> SignIn:
        """A token pair of a new session and the client's device token; InvalidCredentials,
        LoginThrottled, MfaRequired. `device_tokens`: what the client presented (body, cookie)."""
        account, device_token = await self.authenticate(email, password, client_ip,
                                                        device_tokens)
        if self.require_verified_email and not account.email_verified:
            # Told only after a correct password: it says nothing to a stranger.
            LOGINS.labels("email_not_verified").inc()
            raise EmailNotVerified
        amr = ["pwd"]
        if account.mfa_enabled:
            raise await self._mfa_required(account, email, amr, client_ip, device_token)
        session_id = new_session_id()
        pair = self.minter.mint(account.id, account.role, session_id, amr)
        await self.sessions.start(NewSession(account.id, session_id, pair.refresh_token,
                                             client_ip, user_agent, amr))
        return SignIn(pair, device_token)

    async def authenticate(self, email: str, password: str, client_ip: str,
                           device_tokens: tuple[str | None, ...] = ()) -> tuple[Credentials, str]:
        """The account and its (renewed) device token for this client."""
        attempt = self.throttle.attempt(email, password, client_ip, device_tokens)
        verdict = await self.throttle.check(attempt)
        if verdict.retry_after > 0:
            LOGINS.labels("throttled").inc()
            # Which counter, so an operator can tell a typo streak from stuffing or spraying.
            _log.info("login_throttled", counter=verdict.counter, known_client=verdict.known,
                      retry_after=verdict.retry_after)
            raise LoginThrottled(verdict.retry_after)
        credentials = await self.users.credentials(email)
        check = PasswordCheck(valid=False)
        if credentials is None:
            await self.hasher.verify_dummy(password)  # the same work as a wrong password
        else:
            check = await self.hasher.verify(credentials.password_hash, password)
        if credentials is None or not check.valid or not credentials.is_active:
            # The same Redis calls for an unknown e-mail as for a wrong password.
            await self.throttle.record_failure(attempt, verdict)
            LOGINS.labels("invalid_credentials").inc()
            raise InvalidCredentials
        device_token = await self.throttle.record_success(attempt)
        LOGINS.labels("success").inc()
        if check.needs_rehash:
            await self._upgrade_hash(credentials, password)
        return credentials, device_token

    async def _mfa_required(self, account: Credentials, email: str, amr: list[str],
                            client_ip: str, device_token: str) -> MfaRequired:
        # The device token is handed out only once the second factor is proved; the
        # mfa_token remembers the device id so that sign-in renews the same device.
        throttle_account = self.throttle.account_of(email)
        token = await self.mfa_tokens.issue(
            user_id=account.id, amr=amr, client_ip=client_ip, account=throttle_account,
            device=self.throttle.devices.device_of(device_token, throttle_account))
        LOGINS.labels("mfa_required").inc()
        return MfaRequired(token, self.mfa_tokens.ttl_seconds)

    async def _upgrade_hash(self, credentials: Credentials, password: str) -> None:
        try:
            new_hash = await self.hasher.hash(password)
            await self.users.set_password_hash(credentials.id, new_hash)
        except (AuthError, HashingBusy):  # the login itself succeeded; upgrade on a later one
            _log.warning("password_rehash_failed", user_id=credentials.id)
        else:
            _log.info("password_rehashed", user_id=credentials.id)
