"""Locating the server binaries the stack runs (redis-server, redis-cli, PostgreSQL)."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

INSTALL_HINT = "run infra/bootstrap.sh (or apt-get install {pkg})"


class MissingBinaryError(RuntimeError):
    """A server binary the stack needs is not installed."""


@dataclass(frozen=True)
class PostgresBinaries:
    bin_dir: Path

    @property
    def initdb(self) -> Path:
        return self.bin_dir / "initdb"

    @property
    def postgres(self) -> Path:
        return self.bin_dir / "postgres"


def _which(name: str, package: str) -> Path:
    found = shutil.which(name)
    if found is None:
        raise MissingBinaryError(
            f"{name} not found on PATH; " + INSTALL_HINT.format(pkg=package)
        )
    return Path(found)


def redis_server() -> Path:
    return _which("redis-server", "redis-server")


def redis_cli() -> Path:
    return _which("redis-cli", "redis-tools")


def _is_pg_bin_dir(path: Path) -> bool:
    return all(os.access(path / exe, os.X_OK) for exe in ("initdb", "postgres"))


def postgres_bin_dir() -> PostgresBinaries:
    """PG_BIN_DIR, then the Debian layout (15 first, then any version), then PATH."""
    candidates: list[Path] = []
    if env := os.environ.get("PG_BIN_DIR"):
        candidates.append(Path(env))
    candidates.append(Path("/usr/lib/postgresql/15/bin"))
    # Newest version first when 15 is absent.
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for path in candidates:
        if _is_pg_bin_dir(path):
            return PostgresBinaries(path)
    raise MissingBinaryError(
        "PostgreSQL server binaries (initdb, postgres) not found in PG_BIN_DIR, "
        "/usr/lib/postgresql/*/bin or PATH; " + INSTALL_HINT.format(pkg="postgresql-15")
    )
