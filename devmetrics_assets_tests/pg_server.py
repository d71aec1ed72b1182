"""A throwaway PostgreSQL server for the `postgres` tests: initdb in a temporary folder, one server on
127.0.0.1 on a free port, one database; stopped and removed afterwards.

PostgreSQL refuses to run as root, so under root the data folder is handed to the `postgres` user and
the server commands run through `runuser`. Debian keeps the binaries in /usr/lib/postgresql/N/bin,
off the PATH; they are looked up there too.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

USER = "dagster"
DATABASE = "devmetrics"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    database: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@{self.host}:{self.port}/{self.database}"

    def environ(self, *, as_url: bool) -> dict[str, str]:
        """The variables of the production profile pointing at this server (trust auth: empty password)."""
        if as_url:
            return {"DAGSTER_PG_URL": self.url}
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": self.database}

    def new_database(self, name: str) -> PostgresServer:
        """A fresh, empty database on this server (one per test: no runs left over from another test)."""
        _create_database(self.port, name)
        return replace(self, database=name)

    def query(self, sql: str) -> list[tuple]:
        """Rows read straight from PostgreSQL, bypassing Dagster."""
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user=self.user, dbname=self.database)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return cursor.fetchall()
        finally:
            connection.close()


def find_bin_dir() -> str | None:
    """The folder holding initdb: on the PATH, else Debian's /usr/lib/postgresql/<newest>/bin."""
    found = shutil.which("initdb")
    if found:
        return str(Path(found).parent)
    def version(initdb: str) -> int:
        name = Path(initdb).parent.parent.name
        return int(name) if name.isdigit() else 0

    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=version)
    return str(Path(candidates[-1]).parent) if candidates else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@contextmanager
def running_postgres(bin_dir: str) -> Iterator[PostgresServer]:
    """Start a server in a fresh temporary folder; stop it and remove the folder on exit."""
    # Not under pytest's tmp folder: that is private to root (0700) and the postgres user cannot enter it.
    root = Path(tempfile.mkdtemp(prefix="devmetrics-pg-"))
    data, log = root / "data", root / "server.log"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    port = free_port()
    initdb, pg_ctl = str(Path(bin_dir) / "initdb"), str(Path(bin_dir) / "pg_ctl")
    started = False
    try:
        subprocess.run(_as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", USER, "--no-sync"]),
                       check=True, capture_output=True, timeout=120)
        # fsync off: a test server's data need not survive a power cut, and it saves seconds per run.
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        start = [pg_ctl, "-D", str(data), "-o", options, "-l", str(log), "-w", "start"]
        subprocess.run(_as_server_user(start), check=True, capture_output=True, timeout=120)
        started = True
        _create_database(port, DATABASE)
        yield PostgresServer("127.0.0.1", port, USER, DATABASE)
    except subprocess.CalledProcessError as exc:
        server_log = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r}\n{server_log}") from exc
    finally:
        if started:
            subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"]),
                           capture_output=True, timeout=120, check=False)
        shutil.rmtree(root, ignore_errors=True)


def _create_database(port: int, name: str) -> None:
    import psycopg2

    connection = psycopg2.connect(host="127.0.0.1", port=port, user=USER, dbname="postgres")
    try:
        connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
