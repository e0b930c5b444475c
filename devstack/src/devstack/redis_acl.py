"""The Redis ACL users: the role rules of infra/redis-cluster/users.acl, each role's
password (generated once per state dir, kept across restarts), and what a node's config
and a service's environment need from them.

The node config carries only each password's SHA-256 (`#<hex>`), except the replication
password, which a replica must send in clear (`masterauth`); the services read theirs
from a file (REDIS_PASSWORD_FILE), so no password is on a command line or in `ps`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from devstack.credentials import read_or_create_secret
from devstack.paths import infra_dir

ADMIN = "admin"
REPLICATION = "replication"
DEFAULT = "default"  # off: no login; its rules are written as users.acl has them
# The ACL user each service connects as (its name in supervisord and compose).
SERVICE_ROLES = ("gateway", "auth-service", "user-service")


def acl_rules(path: Path | None = None) -> dict[str, str]:
    """role -> its ACL rules, macros (`@name rules` lines) expanded."""
    source = path or infra_dir() / "redis-cluster" / "users.acl"
    macros: dict[str, str] = {}
    roles: dict[str, str] = {}
    for raw in source.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rules = line.partition(" ")
        words = [macros.get(word, word) for word in rules.split()]
        if name.startswith("@"):
            macros[name] = " ".join(words)
        else:
            roles[name] = " ".join(words)
    missing = {DEFAULT, ADMIN, REPLICATION, *SERVICE_ROLES} - roles.keys()
    if missing:
        raise ValueError(f"{source} defines no ACL user for {sorted(missing)}")
    return roles


@dataclass(frozen=True)
class Login:
    """An ACL user's name and password (the password kept out of repr)."""

    username: str
    password: str

    def __repr__(self) -> str:
        return f"Login(username={self.username!r}, password=***)"


class RedisLogins:
    """Every role's password, in `secrets_dir/redis-<role>` (mode 600)."""

    def __init__(self, secrets_dir: Path) -> None:
        self.secrets_dir = secrets_dir
        self.rules = acl_rules()
        self._passwords = {role: read_or_create_secret(self.password_file(role))
                           for role in self.rules if role != DEFAULT}

    def password_file(self, role: str) -> Path:
        return self.secrets_dir / f"redis-{role}"

    def login(self, role: str) -> Login:
        return Login(role, self._passwords[role])

    @property
    def admin(self) -> Login:
        return self.login(ADMIN)

    def service_env(self, role: str) -> dict[str, str]:
        """What a service needs to authenticate as `role` (read from a file)."""
        if role not in SERVICE_ROLES:
            raise ValueError(f"{role!r} is not a service's ACL user")
        return {"REDIS_USERNAME": role, "REDIS_PASSWORD_FILE": str(self.password_file(role))}

    def node_config(self) -> str:
        """The redis.conf lines: the users (the default one off) and how a replica
        authenticates to its master."""
        lines = ["# ACL users (devstack, from infra/redis-cluster/users.acl)",
                 f"user {DEFAULT} {self.rules[DEFAULT]}"]
        for role, rules in self.rules.items():
            if role == DEFAULT:
                continue
            digest = hashlib.sha256(self._passwords[role].encode()).hexdigest()
            lines.append(f"user {role} on #{digest} {rules}")
        lines += [f"masteruser {REPLICATION}", f"masterauth {self._passwords[REPLICATION]}"]
        return "\n".join(lines) + "\n"
