"""Where the history lives: ``--history URL``, ``$VENTBENCH_HISTORY`` or the sessions root.

A history is a SQLite file (the default, ``SESSIONS_ROOT/ventbench-history.sqlite``; a plain
path or ``sqlite:///PATH``) or a PostgreSQL database shared by several benches
(``postgresql://USER@HOST[:PORT]/DB``). The password is never part of the URL: a URL is
printed in logs and reports and shows in ``ps``, so one with a password is refused. It is
read, in this order, from ``$VENTBENCH_HISTORY_PASSWORD``, from the file named by
``$VENTBENCH_HISTORY_PASSWORD_FILE`` (which must not be readable by group or others, like
``~/.pgpass``), or from ``$PGPASSWORD``; without any of them libpq's own ``~/.pgpass`` applies.
"""

from __future__ import annotations

import argparse
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ventbench.errors import ConfigError

HISTORY_FILE = "ventbench-history.sqlite"
ENV_URL = "VENTBENCH_HISTORY"
ENV_PASSWORD = "VENTBENCH_HISTORY_PASSWORD"
ENV_PASSWORD_FILE = "VENTBENCH_HISTORY_PASSWORD_FILE"
_PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


@dataclass(frozen=True)
class HistoryTarget:
    """A resolved history location.

    Attributes
    ----------
    kind : str
        ``"sqlite"`` or ``"postgresql"``.
    url : str
        The URL without any password (safe to print).
    path : Path or None
        The SQLite file (None for PostgreSQL).
    """

    kind: str
    url: str
    path: Path | None = None

    def __str__(self) -> str:
        return self.url

    @property
    def shared(self) -> bool:
        """True for a database server (which may be unreachable), False for a local file."""
        return self.kind == "postgresql"


def add_history_argument(parser: argparse.ArgumentParser) -> None:
    """``--history URL`` with the same help on every command that writes or reads it."""
    parser.add_argument(
        "--history", default=None, metavar="URL",
        help="history database: a SQLite file or postgresql://USER@HOST/DB (default "
             f"${ENV_URL}, else SESSIONS_ROOT/{HISTORY_FILE}); the password comes from "
             f"${ENV_PASSWORD}, ${ENV_PASSWORD_FILE} (a 0600 file) or $PGPASSWORD")


def resolve(url: str | os.PathLike | None, sessions_root: Path | None = None) -> HistoryTarget:
    """The history named by ``url``, else ``$VENTBENCH_HISTORY``, else the sessions root's file.

    Raises
    ------
    ConfigError
        An unknown scheme, or a URL that carries a password (named without it).
    """
    if isinstance(url, HistoryTarget):
        return url
    if url is None or str(url) == "":
        url = os.environ.get(ENV_URL) or None
    if url is None:
        if sessions_root is None:
            from ventbench.bench.session import default_sessions_root

            sessions_root = default_sessions_root()
        path = Path(sessions_root) / HISTORY_FILE
        return HistoryTarget("sqlite", f"sqlite:///{path}", path)
    text = str(url)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if scheme in ("", "sqlite"):
        path = Path(text[len("sqlite:///"):] if scheme else text)
        if scheme and not text.startswith("sqlite:///"):
            raise ConfigError(f"--history {text}: expected sqlite:///PATH")
        return HistoryTarget("sqlite", f"sqlite:///{path}", path)
    if scheme not in _PG_SCHEMES:
        raise ConfigError(f"--history {redact(text)}: unknown scheme {scheme!r} "
                          "(expected a SQLite path, sqlite:///PATH or postgresql://USER@HOST/DB)")
    parts = urlsplit(text)
    if parts.password is not None:
        raise ConfigError(
            f"--history {redact(text)}: the URL holds a password, which would show in logs, "
            f"reports and ps; put it in ${ENV_PASSWORD}, a 0600 file named by "
            f"${ENV_PASSWORD_FILE}, or $PGPASSWORD")
    if not parts.hostname or not parts.path.strip("/"):
        raise ConfigError(f"--history {text}: expected postgresql://USER@HOST[:PORT]/DB")
    return HistoryTarget("postgresql", urlunsplit(("postgresql",) + tuple(parts)[1:]))


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages about a bad URL)."""
    try:
        parts = urlsplit(str(url))
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return str(url)
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def password() -> str | None:
    """The database password from the environment or a private file (None: let libpq decide).

    Raises
    ------
    ConfigError
        The password file is missing, or readable by its group or others.
    """
    if os.environ.get(ENV_PASSWORD):
        return os.environ[ENV_PASSWORD]
    file = os.environ.get(ENV_PASSWORD_FILE)
    if file:
        path = Path(file)
        try:
            mode = path.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise ConfigError(f"{path}: password file is accessible by group or others "
                                  f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it")
            return path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(f"{path}: cannot read the history password file "
                              f"({error.strerror})") from None
    return os.environ.get("PGPASSWORD") or None
