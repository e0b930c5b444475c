"""`devstack up | down | status`: the native stack as local processes (docs/operations.md)."""

from __future__ import annotations

import argparse
import sys

from devstack.config import ConfigError, StackConfig
from devstack.paths import default_state_dir
from devstack.stack import Stack, StackError

ENV_HELP = """environment:
  STACK_DIR      state dir (data, logs, sockets); default <repo>/.stack
  REDIS_PORTS    six Redis ports, e.g. 6379-6384 (default) or 7000,7001,...
  POSTGRES_PORT  default 5432
  AUTH_PORT      default 8001
  USER_PORT      default 8002
  USER_INTERNAL_PORT default 8003 (the user service's internal API; 0: on USER_PORT)
  GATEWAY_PORT   default 3000
  SMTP_PORT      the capture SMTP server, default 2525 (mail lands in <state dir>/mail)

`devstack mail` lists the newest captured messages; --to ADDRESS filters, --print shows
the newest one (headers and plain-text part), --html its HTML part.
"""


def _err(message: str) -> None:
    print(f"devstack: error: {message}", file=sys.stderr)


def _stack_for_existing() -> Stack:
    """For down/status: the config saved by the last `up`, else the environment's."""
    config = StackConfig.from_env()
    saved = StackConfig.load(config.state_dir) or StackConfig.load(default_state_dir())
    return Stack(saved or config)


def cmd_up() -> int:
    stack = Stack(StackConfig.from_env())
    if stack.is_running():
        print("devstack: already running")
        return cmd_status()
    try:
        stack.up()
    except StackError as exc:
        _err(str(exc))
        if exc.log_tail:
            print("--- last log lines ---", file=sys.stderr)
            print(exc.log_tail, file=sys.stderr)
        return 1
    state = stack.config.state_dir
    if "gateway" in stack.skipped:
        print(f"devstack: up, without gateway (not started: {stack.skipped['gateway']})")
    else:
        print(f"devstack: up. gateway {stack.gateway_url}  (API docs: {stack.auth_url}/docs, "
              f"{stack.user_url}/docs)")
    print(f"devstack: auth-service {stack.auth_url}, user-service {stack.user_url}, "
          f"redis {stack.redis.nodes}, postgres 127.0.0.1:{stack.config.postgres_port}")
    print(f"devstack: data {state / 'data'}  logs {state / 'logs'}")
    return 0


def cmd_down() -> int:
    stack = _stack_for_existing()
    if not stack.is_running():
        print(f"devstack: not running (state dir {stack.config.state_dir})")
        return 0
    killed = stack.down()
    if killed:
        _err(f"processes did not stop in time and were killed: {killed}")
        return 1
    print("devstack: stopped (data kept in "
          f"{stack.config.state_dir / 'data'})")
    return 0


def cmd_status() -> int:
    stack = _stack_for_existing()
    for line in stack.status_lines():
        print(line)
    if not stack.is_running():
        return 3  # LSB convention for "not running"
    print(f"gateway {stack.gateway_url}  logs {stack.config.state_dir / 'logs'}")
    return 0


def cmd_mail(args: argparse.Namespace) -> int:
    from devstack.mailcapture import captured

    maildir = _stack_for_existing().config.state_dir / "mail"
    mails = captured(maildir, args.to)
    if not mails:
        print(f"devstack: no mail in {maildir / 'new'}" + (f" to {args.to}" if args.to else ""))
        return 0
    if args.print or args.html:
        mail = mails[-1]
        for header in ("Date", "From", "To", "Subject"):
            print(f"{header}: {mail.message.get(header, '')}")
        print(f"File: {mail.path}\n")
        print(mail.html if args.html else mail.text)
        return 0
    for mail in mails[-args.count:]:
        print(f"{mail.message.get('Date', '')}  {', '.join(mail.recipients)}  {mail.subject}"
              f"  ({mail.path.name})")
    return 0


def cmd_config_doc() -> int:
    from devstack import configdoc

    print(f"wrote {configdoc.write()}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="devstack", description=__doc__, epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status", "mail", "config-doc"))
    mail = parser.add_argument_group("mail")
    mail.add_argument("--to", help="only messages to this address")
    mail.add_argument("--count", type=int, default=10, help="how many to list (default 10)")
    mail.add_argument("--print", action="store_true", help="print the newest message")
    mail.add_argument("--html", action="store_true", help="print the newest one's HTML part")
    args = parser.parse_args(argv)
    try:
        if args.command == "mail":
            return cmd_mail(args)
        commands = {"up": cmd_up, "down": cmd_down, "status": cmd_status,
                    "config-doc": cmd_config_doc}
        return commands[args.command]()
    except ConfigError as exc:
        _err(str(exc))
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
