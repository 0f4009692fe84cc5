"""A real, throw-away PostgreSQL server for the history tests (one per test worker).

``initdb`` + ``pg_ctl`` from the system's PostgreSQL (``.ci/run`` installs the Debian
package) into a temporary directory, password authentication over TCP on a free loopback
port, no fsync. PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` system user (``runuser``). Where no server can be found the tests that need
one are skipped with a loud message — never silently.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PG_USER = "vbtest"
PG_PASSWORD = "s3cret-Ω-not-in-ps"


@dataclass(frozen=True)
class Postgres:
    url: str  # postgresql://USER@127.0.0.1:PORT/DB, without the password
    password: str
    port: int
    bin_dir: Path

    def env(self) -> dict[str, str]:
        """A child-process environment that reaches this server (password by env var)."""
        return {**os.environ, "VENTBENCH_HISTORY_PASSWORD": self.password}

    def psql(self, sql: str) -> str:
        return subprocess.run(
            [str(self.bin_dir / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
             "-d", "history", "-At", "-c", sql],
            env={**os.environ, "PGPASSWORD": self.password}, capture_output=True, text=True,
            check=True).stdout


def _bin_dir() -> Path | None:
    found = shutil.which("initdb") or shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    bin_dir = _bin_dir()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        message = ("!!! NO POSTGRESQL SERVER: initdb/pg_ctl not found (apt-get install "
                   "postgresql); the shared-history tests are SKIPPED !!!")
        warnings.warn(message, stacklevel=1)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="ventbench-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to postgres
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    pwfile = root / "pw"
    pwfile.write_text(PG_PASSWORD + "\n", encoding="utf-8")
    if as_user:
        shutil.chown(pwfile, "postgres")
    data, port = root / "data", _free_port()
    run = lambda *cmd: subprocess.run(as_user + [str(c) for c in cmd], check=True,  # noqa: E731
                                      capture_output=True, text=True)
    try:
        run(bin_dir / "initdb", "-D", data, "-U", PG_USER, "--pwfile", pwfile, "-E", "UTF8",
            "--auth-host=scram-sha-256", "--auth-local=scram-sha-256", "--no-sync")
        run(bin_dir / "pg_ctl", "-D", data, "-l", root / "log", "-w", "-t", "30", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50", "start")
    except subprocess.CalledProcessError as error:
        message = f"!!! PostgreSQL could not start: {error.stderr.strip()[:300]} !!!"
        warnings.warn(message, stacklevel=1)
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(message)
    server = Postgres(f"postgresql://{PG_USER}@127.0.0.1:{port}/history", PG_PASSWORD, port,
                      bin_dir)
    try:
        server_env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        subprocess.run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U",
                        PG_USER, "history"], env=server_env, check=True, capture_output=True)
        yield server
    finally:
        subprocess.run(as_user + [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate",
                                  "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_history(postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, empty database on the server; its URL (password in the environment)."""
    from ventbench.bench import history_store

    name = f"h{os.getpid()}_{next(_counter)}"
    postgres.psql(f"CREATE DATABASE {name}")
    monkeypatch.setenv("VENTBENCH_HISTORY_PASSWORD", postgres.password)
    url = postgres.url.rsplit("/", 1)[0] + "/" + name
    yield url
    history_store.dispose_all()


def _count() -> Iterator[int]:
    n = 0
    while True:
        n += 1
        yield n


_counter = _count()
