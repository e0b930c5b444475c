"""`auth-service [serve]`, `auth-service rotate-keys`, `auth-service show-jwks`,
`auth-service mail-worker`."""

import argparse
import json
import sys

from auth_service.config import Settings
from auth_service.keys import KeyConfigError, ensure_keys, load_keyring, rotate_keys
from shared.server import serve


def _serve(settings: Settings) -> None:
    from auth_service.main import create_app

    serve(settings, create_app)


def _rotate(settings: Settings, args: argparse.Namespace) -> None:
    directory = settings.keys_dir
    if settings.generate_missing_keys:
        ensure_keys(directory, settings.JWT_SIGNING_ALG)
    activate_after = (args.activate_after if args.activate_after is not None
                      else 2 * settings.JWT_KEYS_RELOAD_SECONDS)
    # Tokens signed by the key we are about to drop live until its successor took over
    # plus their lifetime plus the verifiers' leeway.
    min_interval = settings.ACCESS_TOKEN_TTL_SECONDS + settings.JWT_LEEWAY_SECONDS + 5
    kid = rotate_keys(directory, settings.JWT_SIGNING_ALG, activate_after=activate_after,
                      min_interval=min_interval, force=args.force)
    print(json.dumps({"current": kid, "signing_from_in_seconds": activate_after}))


def _mail_worker(settings: Settings) -> None:
    """Only the outbox's sender, no HTTP (a dedicated sender process)."""
    import asyncio
    import contextlib

    from auth_service.redis_store import RedisStore
    from auth_service.resources import build_mail
    from shared import configure_logging
    from shared.redis import cluster_client_from_settings

    configure_logging(settings.SERVICE_NAME, settings.LOG_LEVEL)

    async def run() -> None:
        store = RedisStore(cluster_client_from_settings(settings),
                           call_budget=settings.REDIS_CALL_BUDGET_SECONDS,
                           wait_budget=settings.REDIS_WAIT_BUDGET_SECONDS,
                           ack_timeout_ms=settings.REDIS_REPLICA_ACK_TIMEOUT_MS)
        _, worker = build_mail(settings, store)
        try:
            await worker.run()
        finally:
            await store.aclose()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def _show_jwks(settings: Settings) -> None:
    print(json.dumps(load_keyring(settings.keys_dir).jwks(), indent=2))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="auth-service", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("serve", help="run the HTTP service (default)")
    rotate = commands.add_parser("rotate-keys", help="make a new signing key current")
    rotate.add_argument("--activate-after", type=float, default=None, metavar="SECONDS",
                        help="publish now, sign from then on (default: 2 x key reload interval)")
    rotate.add_argument("--force", action="store_true",
                        help="drop the previous key even if its tokens may still be valid")
    commands.add_parser("show-jwks", help="print the public JWK Set")
    commands.add_parser("mail-worker", help="send the outbox's mail, without the HTTP service")
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        if args.command == "rotate-keys":
            _rotate(settings, args)
        elif args.command == "show-jwks":
            _show_jwks(settings)
        elif args.command == "mail-worker":
            _mail_worker(settings)
        else:
            _serve(settings)
    except KeyConfigError as exc:
        print(f"auth-service: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
