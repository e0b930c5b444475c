"""The account-lifecycle flows wired together: verification, reset, change of password and
of email, over one AccountMail (tokens, throttle, queue)."""

from dataclasses import dataclass

from auth_service.account_tokens import AccountTokens
from auth_service.config import Settings
from auth_service.mail_throttle import MailThrottle
from auth_service.redis_store import RedisStore
from auth_service.use_cases.account_mail import AccountMail, Lifetimes, MailQueue
from auth_service.use_cases.email_change import EmailChange
from auth_service.use_cases.passwords import PasswordChange, PasswordFingerprint, PasswordReset
from auth_service.use_cases.second_factor import StepUp
from auth_service.use_cases.sessions import Sessions
from auth_service.use_cases.verification import EmailVerification
from auth_service.users_client import UsersClient
from shared.passwords import PasswordHasher


@dataclass(frozen=True, slots=True)
class AccountFlows:
    mail: AccountMail
    verification: EmailVerification
    password_reset: PasswordReset
    password_change: PasswordChange
    email_change: EmailChange

    @classmethod
    def build(cls, settings: Settings, *, store: RedisStore, queue: MailQueue,
              users: UsersClient, hasher: PasswordHasher, sessions: Sessions,
              step_up: StepUp) -> "AccountFlows":
        mail = AccountMail(
            queue=queue, tokens=AccountTokens(store),
            throttle=MailThrottle(store, secret=settings.THROTTLE_SECRET,
                                  cooldown=settings.MAIL_ADDRESS_COOLDOWN_SECONDS,
                                  ip_limit=settings.MAIL_IP_LIMIT,
                                  ip_window=settings.MAIL_IP_WINDOW_SECONDS),
            public_base_url=settings.PUBLIC_BASE_URL,
            lifetimes=Lifetimes(verify=settings.EMAIL_VERIFY_TOKEN_TTL_SECONDS,
                                reset=settings.PASSWORD_RESET_TOKEN_TTL_SECONDS,
                                email_change=settings.EMAIL_CHANGE_TOKEN_TTL_SECONDS))
        return cls(
            mail=mail,
            verification=EmailVerification(users=users, mail=mail),
            password_reset=PasswordReset(users=users, hasher=hasher, sessions=sessions,
                                         mail=mail,
                                         fingerprint=PasswordFingerprint(settings.THROTTLE_SECRET)),
            password_change=PasswordChange(users=users, hasher=hasher, sessions=sessions,
                                           mail=mail, step_up=step_up),
            email_change=EmailChange(users=users, hasher=hasher, mail=mail, step_up=step_up),
        )

    def use_queue(self, queue: MailQueue) -> None:
        """Send the flows' mail to `queue` instead (tests that read what was queued)."""
        self.mail.queue = queue
