"""The second step of a sign-in with MFA, and reauthentication (step-up).

Login of an account with MFA stops after the password (auth_service.use_cases.login raises
MfaRequired with an mfa_token); `MfaLogin` takes that token and a code and only then
starts the session, with `amr` ["pwd","otp"] (TOTP) or ["pwd","mfa"] (recovery code) and
`auth_time` now. `Reauthenticate` proves the factors again inside a session: a fresh access
token with a new `auth_time`, recorded on the session so its refreshes carry it."""

import time
from dataclasses import dataclass

from auth_service.errors import (
    InvalidCredentials,
    InvalidMfaCode,
    InvalidMfaToken,
    MfaCodeRequired,
    MfaNotEnabled,
    WrongPassword,
)
from auth_service.metrics import LOGINS
from auth_service.mfa_tokens import MfaTokens
from auth_service.session_store import NewSession
from auth_service.token_pairs import TokenMinter
from auth_service.tokens import new_session_id
from auth_service.use_cases.login import Login, SignIn
from auth_service.use_cases.second_factor import SecondFactor, second_factor_amr
from auth_service.use_cases.sessions import Sessions
from auth_service.users_client import UsersClient
from shared import Principal, get_logger

_log = get_logger("mfa")


@dataclass(frozen=True, slots=True)
class FreshAccessToken:
    access_token: str
    expires_in: int


class MfaLogin:
    def __init__(self, *, tokens: MfaTokens, second_factor: SecondFactor, users: UsersClient,
                 minter: TokenMinter, sessions: Sessions, login: Login) -> None:
        self.tokens = tokens
        self.second_factor = second_factor
        self.users = users
        self.minter = minter
        self.sessions = sessions
        self.devices = login.throttle.devices

    async def __call__(self, mfa_token: str, code: str, client_ip: str,
                       user_agent: str = "") -> SignIn:
        """The session's token pair; InvalidMfaToken, InvalidMfaCode (the token survives
        a few), LoginThrottled."""
        challenge = await self.tokens.read(mfa_token)
        if challenge is None:
            raise InvalidMfaToken
        user_id = challenge.user_id
        try:
            method = await self.second_factor.prove(user_id, code, client_ip)
        except InvalidMfaCode:
            if await self.tokens.wrong_code(challenge) == 0:
                _log.info("mfa_token_exhausted", user_id=user_id)
            raise
        except MfaNotEnabled:
            # Reset (by an admin) since the password step: that step decided on a second
            # factor that is gone, so it is void; the password alone signs in now.
            await self.tokens.spend(challenge)
            raise InvalidMfaToken from None
        if not await self.tokens.spend(challenge):
            raise InvalidMfaToken  # a concurrent presentation completed this sign-in
        user = await self.users.get_user(user_id)
        if user is None or not user.get("is_active", False):
            raise InvalidCredentials  # disabled or deleted since the password step
        amr = [*challenge.amr, method] if challenge.amr else second_factor_amr(method)
        session_id = new_session_id()
        pair = self.minter.mint(user_id, str(user.get("role", "user")), session_id, amr)
        await self.sessions.start(NewSession(user_id, session_id, pair.refresh_token,
                                             client_ip, user_agent, amr))
        LOGINS.labels("mfa_success").inc()
        return SignIn(pair, self.devices.issue(challenge.account, challenge.device))


class Reauthenticate:
    def __init__(self, *, login: Login, second_factor: SecondFactor, users: UsersClient,
                 minter: TokenMinter, sessions: Sessions) -> None:
        self.login = login
        self.second_factor = second_factor
        self.users = users
        self.minter = minter
        self.sessions = sessions

    async def __call__(self, principal: Principal, password: str, code: str | None,
                       client_ip: str) -> FreshAccessToken:
        """A fresh access token of the caller's session; WrongPassword, MfaCodeRequired,
        InvalidMfaCode, LoginThrottled (the password and the code are throttled as at
        login: a stolen access token is no way round the throttle)."""
        account = await self.users.credentials_by_id(principal.subject)
        if account is None or not account.is_active or principal.session_id is None:
            raise InvalidCredentials
        if account.mfa_enabled and not code:
            raise MfaCodeRequired
        try:
            checked, _ = await self.login.authenticate(account.email, password, client_ip)
        except InvalidCredentials:
            raise WrongPassword from None
        if checked.id != account.id:
            raise WrongPassword  # the address moved to another account meanwhile
        amr = ["pwd"]
        if account.mfa_enabled and code:
            amr = second_factor_amr(await self.second_factor.prove(account.id, code,
                                                                  client_ip))
        auth_time = int(time.time())
        session_id = principal.session_id
        if not await self.sessions.store.reauthenticated(account.id, session_id,
                                                         auth_time=auth_time, amr=amr):
            raise InvalidCredentials  # the session has ended
        token = self.minter.issuer.issue(account.id, [account.role], session_id=session_id,
                                         amr=amr, auth_time=auth_time)
        _log.info("reauthenticated", user_id=account.id, amr=amr)
        return FreshAccessToken(token, self.minter.issuer.ttl_seconds)
