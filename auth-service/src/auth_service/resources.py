"""What the lifespan builds once and closes at the end: the clients, and the use cases
wired to them (each gets exactly the clients it uses)."""

from dataclasses import dataclass, field

import httpx

from auth_service.config import Settings
from auth_service.device_tokens import DeviceTokens
from auth_service.keys import KeyStore, ensure_keys
from auth_service.mail import MailTemplates, MailWorker, Outbox, OutboxKeys, SmtpSender
from auth_service.mfa_tokens import MfaTokens
from auth_service.redis_store import RedisStore
from auth_service.refresh_tokens import RefreshTokenStore
from auth_service.revocations import RevocationPublisher
from auth_service.session_store import SessionStore
from auth_service.throttle import LoginThrottle, Policy
from auth_service.token_pairs import TokenMinter
from auth_service.tokens import AccessTokenIssuer
from auth_service.use_cases import (
    AccountFlows,
    Login,
    Logout,
    MfaLogin,
    MfaManagement,
    Reauthenticate,
    Refresh,
    Register,
    SecondFactor,
    SessionAdmin,
    Sessions,
    StepUp,
)
from auth_service.users_client import UsersClient
from shared import JwtVerifier
from shared.passwords import PasswordHasher
from shared.redis import cluster_client_from_settings


@dataclass(slots=True)
class Resources:
    settings: Settings
    redis: RedisStore
    users: UsersClient
    keys: KeyStore
    hasher: PasswordHasher
    verifier: JwtVerifier
    refresh_tokens: RefreshTokenStore  # legacy families, read until they expire
    session_store: SessionStore
    revocations: RevocationPublisher
    throttle: LoginThrottle
    minter: TokenMinter
    outbox: Outbox  # the flows' mail: `await outbox.enqueue(to=..., template=..., context=...)`
    mail_worker: MailWorker  # drains the outbox; run by the lifespan (MAIL_WORKER_ENABLED)
    mfa_tokens: MfaTokens = field(init=False)  # mfa_tokens of logins, the TOTP replay guard
    step_up: StepUp = field(init=False)
    second_factor: SecondFactor = field(init=False)
    register: Register = field(init=False)
    sessions: Sessions = field(init=False)
    account: AccountFlows = field(init=False)  # verification, reset, password/email change
    session_admin: SessionAdmin = field(init=False)
    login: Login = field(init=False)
    refresh: Refresh = field(init=False)
    logout: Logout = field(init=False)
    mfa_login: MfaLogin = field(init=False)  # /auth/login/mfa
    reauthenticate: Reauthenticate = field(init=False)
    mfa: MfaManagement = field(init=False)  # enrolment, disable, recovery codes, admin reset

    def __post_init__(self) -> None:
        settings = self.settings
        self.mfa_tokens = MfaTokens(self.redis, ttl_seconds=settings.MFA_TOKEN_TTL_SECONDS,
                                    max_failures=settings.MFA_TOKEN_MAX_FAILURES)
        self.step_up = StepUp(max_age_seconds=settings.STEP_UP_MAX_AGE_SECONDS)
        self.second_factor = SecondFactor(users=self.users, tokens=self.mfa_tokens,
                                          throttle=self.throttle)
        self.sessions = Sessions(store=self.session_store, publisher=self.revocations)
        self.account = AccountFlows.build(self.settings, store=self.redis, queue=self.outbox,
                                          users=self.users, hasher=self.hasher,
                                          sessions=self.sessions, step_up=self.step_up)
        self.register = Register(users=self.users, hasher=self.hasher,
                                 verification=self.account.verification)
        self.session_admin = SessionAdmin(users=self.users, step_up=self.step_up)
        self.login = Login(throttle=self.throttle, users=self.users, hasher=self.hasher,
                           minter=self.minter, sessions=self.sessions,
                           mfa_tokens=self.mfa_tokens,
                           require_verified_email=self.settings.REQUIRE_VERIFIED_EMAIL)
        self.refresh = Refresh(sessions=self.sessions, legacy=self.refresh_tokens,
                               users=self.users, minter=self.minter)
        self.logout = Logout(sessions=self.sessions, legacy=self.refresh_tokens)
        self.mfa_login = MfaLogin(tokens=self.mfa_tokens, second_factor=self.second_factor,
                                  users=self.users, minter=self.minter, sessions=self.sessions,
                                  login=self.login)
        self.reauthenticate = Reauthenticate(login=self.login, second_factor=self.second_factor,
                                             users=self.users, minter=self.minter,
                                             sessions=self.sessions)
        self.mfa = MfaManagement(users=self.users, tokens=self.mfa_tokens,
                                 second_factor=self.second_factor, step_up=self.step_up,
                                 login=self.login, sessions=self.sessions,
                                 admin=self.session_admin, mail=self.account.mail,
                                 issuer=settings.MFA_ISSUER)

    async def aclose(self) -> None:
        await self.users.aclose()
        await self.redis.aclose()
        self.hasher.close()


def load_key_store(settings: Settings) -> KeyStore:
    if settings.generate_missing_keys:
        ensure_keys(settings.keys_dir, settings.JWT_SIGNING_ALG)
    return KeyStore(settings.keys_dir)  # fails fast when production keys are missing


def build_throttle(settings: Settings, store: RedisStore) -> LoginThrottle:
    policy = Policy(
        own_free=settings.THROTTLE_PAIR_FREE_FAILURES,
        account_free=settings.THROTTLE_ACCOUNT_FREE_FAILURES,
        ip_free=settings.THROTTLE_IP_FREE_FAILURES,
        password_free=settings.THROTTLE_PASSWORD_FREE_FAILURES,
        base_delay=settings.THROTTLE_BASE_DELAY_SECONDS,
        max_delay=settings.THROTTLE_MAX_DELAY_SECONDS,
        window=settings.THROTTLE_WINDOW_SECONDS,
        known_ips=settings.THROTTLE_KNOWN_IPS_PER_ACCOUNT,
        known_ip_ttl=settings.THROTTLE_KNOWN_IP_TTL_SECONDS,
    )
    devices = DeviceTokens(settings.THROTTLE_SECRET, ttl_seconds=settings.DEVICE_TOKEN_TTL_SECONDS)
    return LoginThrottle(store, devices, secret=settings.THROTTLE_SECRET, policy=policy)


def build_mail(settings: Settings, store: RedisStore) -> tuple[Outbox, MailWorker]:
    templates = MailTemplates(settings.PUBLIC_BASE_URL)
    keys = OutboxKeys(settings.MAIL_OUTBOX_STREAM)
    sender = SmtpSender.from_settings(settings)
    worker = MailWorker(store, sender, templates, max_attempts=settings.MAIL_MAX_ATTEMPTS,
                        retry_base=settings.MAIL_RETRY_BASE_SECONDS,
                        retry_max=settings.MAIL_RETRY_MAX_SECONDS,
                        claim_idle=settings.MAIL_CLAIM_IDLE_SECONDS,
                        poll_interval=settings.MAIL_POLL_INTERVAL_SECONDS,
                        concurrency=settings.MAIL_BATCH_SIZE, keys=keys)
    outbox = Outbox(store, templates, keys=keys,
                    on_enqueue=worker.wake if settings.MAIL_WORKER_ENABLED else None)
    return outbox, worker


def build_resources(
    settings: Settings, users_transport: httpx.AsyncBaseTransport | None = None
) -> Resources:
    keys = load_key_store(settings)
    # With tracing on, the client makes a span per Redis command itself.
    redis = cluster_client_from_settings(settings)
    store = RedisStore(redis, call_budget=settings.REDIS_CALL_BUDGET_SECONDS,
                       wait_budget=settings.REDIS_WAIT_BUDGET_SECONDS,
                       ack_timeout_ms=settings.REDIS_REPLICA_ACK_TIMEOUT_MS)
    outbox, mail_worker = build_mail(settings, store)
    return Resources(
        settings=settings,
        redis=store,
        users=UsersClient(
            settings.USER_SERVICE_URL, settings.INTERNAL_API_TOKEN,
            timeout=settings.USER_SERVICE_TIMEOUT_SECONDS,
            retry_after=settings.UPSTREAM_RETRY_AFTER_SECONDS, transport=users_transport,
        ),
        keys=keys,
        hasher=PasswordHasher(settings.argon2_params, max_concurrency=settings.HASH_CONCURRENCY,
                              max_queued=settings.HASH_QUEUE_LIMIT),
        # Logout verifies bearer tokens against our own keys, in process.
        verifier=JwtVerifier.from_settings(keys, settings),
        refresh_tokens=RefreshTokenStore(
            store, ttl_seconds=settings.REFRESH_TOKEN_TTL_SECONDS,
            grace_seconds=settings.REFRESH_REUSE_GRACE_SECONDS,
        ),
        session_store=SessionStore(
            store, ttl_seconds=settings.REFRESH_TOKEN_TTL_SECONDS,
            grace_seconds=settings.REFRESH_REUSE_GRACE_SECONDS,
            max_per_user=settings.MAX_SESSIONS_PER_USER,
        ),
        revocations=RevocationPublisher(store,
                                        access_token_ttl=settings.ACCESS_TOKEN_TTL_SECONDS),
        throttle=build_throttle(settings, store),
        minter=TokenMinter(AccessTokenIssuer(
            keys, issuer=settings.JWT_ISSUER, audience=settings.JWT_AUDIENCE,
            ttl_seconds=settings.ACCESS_TOKEN_TTL_SECONDS,
        )),
        outbox=outbox,
        mail_worker=mail_worker,
    )
