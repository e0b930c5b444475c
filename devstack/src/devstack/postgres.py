"""A PostgreSQL server in its own data dir, run under supervisord as an unprivileged user."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import psycopg
from psycopg import sql

from devstack import binaries, osusers
from devstack.credentials import read_or_create_secret
from devstack.paths import infra_dir
from devstack.processes import ProcessError, Program, Supervisor

HOST = "127.0.0.1"
DB_NAME = DB_USER = "authstack"
PROGRAM = "postgres"


class Postgres:
    """initdb on first start, server argv, role/database set-up and outage helpers."""

    def __init__(self, state_dir: Path, port: int, supervisor: Supervisor,
                 *, autorestart: bool = False, owns_supervisor: bool = False) -> None:
        self.state_dir = state_dir
        self.port = port
        self.supervisor = supervisor
        self.autorestart = autorestart
        self._owns_supervisor = owns_supervisor
        self.data_dir = state_dir / "data" / "postgres"
        # Short path: unix socket paths are limited to ~107 bytes.
        self.socket_dir = state_dir / "run" / "postgres"
        secrets_dir = state_dir / "data" / "secrets"
        self.password = read_or_create_secret(secrets_dir / "postgres_password")
        self._superuser_password_file = secrets_dir / "postgres_superuser_password"
        self.os_user = osusers.server_user()

    @classmethod
    def standalone(cls, state_dir: Path, port: int) -> Postgres:
        """A server with its own supervisord in state_dir (fixtures, outage tests)."""
        return cls(state_dir, port, Supervisor(state_dir), owns_supervisor=True)

    @property
    def url(self) -> str:
        """Async SQLAlchemy URL for the application role."""
        return f"postgresql+psycopg://{DB_USER}:{self.password}@{HOST}:{self.port}/{DB_NAME}"

    @property
    def dsn(self) -> str:
        """libpq DSN (psycopg.connect) for the application role over TCP."""
        return f"postgresql://{DB_USER}:{self.password}@{HOST}:{self.port}/{DB_NAME}"

    def _admin_conninfo(self) -> str:
        # Superuser over the unix socket (trust, socket dir is 0700): no password needed.
        return f"host={self.socket_dir} port={self.port} user=postgres dbname=postgres"

    # -- first start -------------------------------------------------------------------
    def prepare(self) -> None:
        """Create dirs owned by the server user and run initdb once."""
        pg = binaries.postgres_bin_dir()
        owner = self.os_user
        for path in (self.data_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            osusers.chown(path, owner)
        osusers.ensure_traversable(self.data_dir, owner, limit=self.state_dir)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(pg.initdb)
        # Copy the project overrides in on every start so edits to infra/ apply.
        conf = self.data_dir / "authstack.conf"
        shutil.copyfile(infra_dir() / "postgres" / "postgresql.conf", conf)
        osusers.chown(conf, owner)

    def _initdb(self, initdb: Path) -> None:
        read_or_create_secret(self._superuser_password_file)
        pwfile = self.socket_dir / "initdb-pw"
        shutil.copyfile(self._superuser_password_file, pwfile)
        osusers.chown(pwfile, self.os_user)
        argv = [str(initdb), "-D", str(self.data_dir), "--username=postgres",
                f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
                "--encoding=UTF8", "--locale=C.UTF-8"]
        log = self.supervisor.log_path("initdb")
        log.parent.mkdir(parents=True, exist_ok=True)
        try:
            with log.open("w") as out:
                done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False,
                                      cwd=self.socket_dir, **osusers.run_as(self.os_user))
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise ProcessError(f"initdb failed (exit {done.returncode}); log: {log}",
                               self.supervisor.tail("initdb"))
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# Project overrides (infra/postgres/postgresql.conf)\n"
                       "include_if_exists = 'authstack.conf'\n")

    def program(self) -> Program:
        postgres = binaries.postgres_bin_dir().postgres
        return Program(
            name=PROGRAM,
            argv=[str(postgres), "-D", str(self.data_dir), "-p", str(self.port),
                  "-k", str(self.socket_dir), "-c", f"listen_addresses={HOST}"],
            stopsignal="INT",  # fast shutdown: roll back clients, checkpoint, exit
            stopwaitsecs=60,
            user=self.os_user.name if osusers.is_root() else None,
            priority=100,
            autorestart=self.autorestart,
        )

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, timeout: float = 60.0) -> None:
        """Start (initdb first time), wait for connections, ensure role and database."""
        self.prepare()
        self.supervisor.add(self.program())
        if self._owns_supervisor:
            self.supervisor.start_daemon()
        self.supervisor.start(PROGRAM)
        self.wait_ready(timeout)
        self.ensure_database()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self._admin_conninfo(), connect_timeout=2):
                    return
            except psycopg.OperationalError as exc:
                self.supervisor.check_alive(PROGRAM, "postgres")
                if time.monotonic() > deadline:
                    raise ProcessError(f"postgres not accepting connections: {exc}".strip(),
                                       self.supervisor.tail(PROGRAM)) from exc
            time.sleep(0.1)

    def ensure_database(self) -> None:
        """Same statements as infra/postgres/init.sql, idempotent."""
        with psycopg.connect(self._admin_conninfo(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                  (DB_USER,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(DB_USER), sql.Literal(self.password)))
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                (DB_NAME,)).fetchone():
                conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' "
                                     "TEMPLATE template0").format(
                    sql.Identifier(DB_NAME), sql.Identifier(DB_USER)))

    def stop(self) -> None:
        """Fast shutdown (SIGINT via supervisord); start() brings the same data back."""
        self.supervisor.stop(PROGRAM)

    def restart(self, timeout: float = 60.0) -> None:
        self.stop()
        self.start(timeout)

    def kill(self) -> None:
        """SIGKILL the postmaster and its backends (a crash; WAL recovery on next start)."""
        self.supervisor.kill(PROGRAM, group=True)

    def close(self) -> None:
        if self._owns_supervisor:
            self.supervisor.shutdown()
        else:
            self.stop()
