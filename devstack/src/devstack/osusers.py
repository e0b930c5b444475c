"""The unprivileged OS user PostgreSQL runs as (it refuses to run as root)."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.processes import ProcessError

# Preferred: the Debian package's user; otherwise one we create for this project.
CANDIDATES = ("postgres", "authstack-pg")


@dataclass(frozen=True)
class OsUser:
    name: str
    uid: int
    gid: int


def is_root() -> bool:
    return os.geteuid() == 0


def _lookup(name: str) -> OsUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def server_user() -> OsUser:
    """Who runs postgres: the current user, or an unprivileged one when we are root."""
    if not is_root():
        entry = pwd.getpwuid(os.geteuid())
        return OsUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    for name in CANDIDATES:
        if user := _lookup(name):
            return user
    name = CANDIDATES[-1]
    subprocess.run(["useradd", "--system", "--no-create-home", "--user-group",
                    "--shell", "/usr/sbin/nologin", name], check=True)
    created = _lookup(name)
    if created is None:
        raise ProcessError(f"useradd {name} did not create the user")
    return created


def chown(path: Path, user: OsUser) -> None:
    if is_root():
        os.chown(path, user.uid, user.gid)


def run_as(user: OsUser) -> dict[str, Any]:
    """subprocess keyword arguments that drop to `user` when we are root."""
    if not is_root() or user.uid == 0:
        return {}
    return {"user": user.uid, "group": user.gid, "extra_groups": []}


def ensure_traversable(path: Path, user: OsUser, *, limit: Path) -> None:
    """Make sure `user` can reach `path`: fix dirs under `limit` (ours), report others."""
    if not is_root() or user.uid == 0:
        return
    limit = limit.resolve()
    for ancestor in reversed(path.resolve().parents):
        info = ancestor.stat()
        if info.st_uid == user.uid or info.st_mode & stat.S_IXOTH:
            continue
        if info.st_gid == user.gid and info.st_mode & stat.S_IXGRP:
            continue
        if ancestor == limit or limit in ancestor.parents:
            # Traverse-only for others: nothing becomes listable or readable.
            os.chmod(ancestor, stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
            continue
        raise ProcessError(f"user {user.name} cannot traverse {ancestor} to reach {path}; "
                           f"choose a state dir outside it (e.g. STACK_DIR=/var/tmp/authstack)")
