"""`user-service [serve] | migrate | downgrade REV | create-admin --email E | mfa-reencrypt`."""

import argparse
import asyncio
import getpass
import sys
from collections.abc import Callable, Sequence

from shared import configure_logging, retry_with_backoff
from shared.emails import normalise_email, valid_email
from shared.passwords import PasswordHasher, PasswordRejected, check_new_password
from shared.server import serve as shared_serve
from user_service import crud, db, migrations
from user_service.config import Settings
from user_service.mfa_rotation import ReencryptResult, reencrypt_all
from user_service.models import User


def serve(settings: Settings) -> None:
    from user_service.main import create_app  # the server's imports are not needed elsewhere

    internal = [settings.INTERNAL_PORT] if settings.INTERNAL_PORT else []
    shared_serve(settings, create_app, extra_ports=internal)


async def wait_for_database(settings: Settings, attempts: int = 12) -> None:
    """Backoff until PostgreSQL answers (~30 s): a migrate job may start before the server."""
    engine = db.create_engine(settings)
    try:
        await retry_with_backoff(lambda: db.ping(engine), what="postgresql", attempts=attempts)
    finally:
        await engine.dispose()


def read_password(prompt_if_tty: bool = True) -> str:
    """One line from stdin when piped, otherwise an interactive prompt typed twice."""
    if not (prompt_if_tty and sys.stdin.isatty()):
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password for the admin: ")
    if getpass.getpass("Repeat the password: ") != password:
        raise SystemExit("passwords do not match")
    return password


async def create_admin(
    settings: Settings, email: str, display_name: str | None, password: Callable[[], str]
) -> str:
    """Create an admin, or promote the existing user with that email; returns what happened.

    Idempotent. An existing user's password is left unchanged (the prompt is skipped)."""
    email = normalise_email(email)
    engine = db.create_engine(settings)
    try:
        async with db.create_sessionmaker(engine)() as session:
            for _ in range(2):  # a concurrent insert of the same email ends up as a promotion
                user = await crud.get_user_by_email(session, email=email)
                if user is not None:
                    if user.role == "admin" and user.is_active:
                        return f"{email} is already an active admin; nothing changed"
                    await crud.update_user(session, user=user,
                                           changes={"role": "admin", "is_active": True})
                    return (f"promoted existing user {email} ({user.id}) to admin; "
                            "password unchanged")
                secret = password()
                try:
                    check_new_password(secret)  # the policy registration applies
                except PasswordRejected as exc:
                    raise SystemExit(exc.detail) from None
                hasher = PasswordHasher(settings.argon2_params, max_concurrency=1)
                try:
                    password_hash = await hasher.hash(secret)
                finally:
                    hasher.close()
                new = User(email=email, password_hash=password_hash,
                           display_name=display_name, role="admin")
                try:
                    await crud.create_user(session, user=new)
                except crud.EmailTakenError:
                    continue
                return f"created admin {email} ({new.id})"
            raise SystemExit(f"could not create or promote {email}")
    finally:
        await engine.dispose()


async def mfa_reencrypt(settings: Settings) -> ReencryptResult:
    """Re-seal every TOTP secret under the first key of MFA_ENCRYPTION_KEYS."""
    keys = settings.mfa_key_ring()
    if not keys.configured:
        raise SystemExit("MFA_ENCRYPTION_KEYS (or MFA_ENCRYPTION_KEYS_FILE) is not set")
    engine = db.create_engine(settings)
    try:
        return await reencrypt_all(db.create_sessionmaker(engine), keys=keys)
    finally:
        await engine.dispose()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="user-service", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the HTTP server (default)")
    sub.add_parser("migrate", help="upgrade the database schema to the latest revision")
    down = sub.add_parser("downgrade", help="downgrade the schema to a revision ('base' = empty)")
    down.add_argument("revision")
    admin = sub.add_parser("create-admin", help="create the first admin (password from stdin)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--display-name", default=None)
    sub.add_parser("mfa-reencrypt",
                   help="re-encrypt every TOTP secret under the first MFA_ENCRYPTION_KEYS key")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)
    if args.command in (None, "serve"):
        serve(settings)
    elif args.command == "migrate":
        asyncio.run(wait_for_database(settings))
        migrations.upgrade(settings.DATABASE_URL)
        print("database schema is at head")
    elif args.command == "downgrade":
        migrations.downgrade(settings.DATABASE_URL, args.revision)
        print(f"database schema downgraded to {args.revision}")
    elif args.command == "create-admin":
        try:
            email = valid_email(args.email)
        except ValueError as exc:
            raise SystemExit(str(exc)) from None
        if args.display_name is not None and not 0 < len(args.display_name.strip()) <= 100:
            raise SystemExit("display name must be 1-100 characters")
        print(asyncio.run(create_admin(settings, email, args.display_name, read_password)))
    elif args.command == "mfa-reencrypt":
        result = asyncio.run(mfa_reencrypt(settings))
        print(f"re-encrypted {result.changed} TOTP secret(s) under key "
              f"{settings.mfa_key_ring().primary_key_id}")
        if result.unreadable:
            # Keep the old key in the ring until these are dealt with (reset their MFA).
            print(f"{result.unreadable} secret(s) could not be decrypted with any key; "
                  "they are unchanged", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
