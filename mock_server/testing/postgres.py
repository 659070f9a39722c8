"""A throwaway PostgreSQL cluster for the tests and the bench: made in a temp dir, listening on a
free loopback port (and a socket in that dir), stopped and removed afterwards.

It is a real server, the distribution's own binaries (``initdb``, ``pg_ctl``, ``postgres``: on
``PATH``, else Debian's ``/usr/lib/postgresql/<version>/bin``), so the store is tested against
what a team runs, not a stand-in. ``postgres`` refuses to run as root, so as root the cluster runs
as the ``postgres`` system user Debian's package creates (the temp dir is handed to it); as anyone
else, as that user. It trades durability for speed (``fsync=off``, no full-page writes, no
synchronous commit): a cluster that lives for one test session has nothing to keep.

Each test that needs a clean database asks for one (``create_database``): creating an empty
database takes a few milliseconds, far less than emptying one, and nothing is shared between
tests that way. psycopg is imported only when a database is made.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Cluster", "PostgresMissing", "find_postgres", "throwaway_cluster"]

_BINARIES = ("initdb", "pg_ctl", "postgres")
DEBIAN_VERSIONS = Path("/usr/lib/postgresql")  # Debian's <version>/bin, off PATH
SUPERUSER = "postgres"
# Durability off (the cluster outlives no test session); more connections than the default 100,
# since every store holds a pool and the replica tests open several.
_SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "300",
    "listen_addresses": "127.0.0.1",
    "log_min_messages": "warning",
}


class PostgresMissing(RuntimeError):
    """What a test needs to start a cluster is not on this machine; the message says what and
    how to get it."""


def _version(bin_dir: Path) -> tuple[int, ...]:
    name = bin_dir.parent.name  # /usr/lib/postgresql/<version>/bin
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def find_postgres() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``: ``initdb``'s on ``PATH`` (its
    real folder, as ``pg_ctl`` finds ``postgres`` beside itself), else Debian's newest."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)
    candidates += sorted(DEBIAN_VERSIONS.glob("*/bin"), key=_version, reverse=True)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in _BINARIES):
            return folder
    raise PostgresMissing(
        "PostgreSQL's initdb, pg_ctl and postgres are not on PATH nor in /usr/lib/postgresql/*/bin:"
        " `make install` installs Debian's postgresql package with apt-get (as root)"
    )


def _server_user() -> tuple[int, int] | None:
    """The uid and gid to run the server as: None to run it as ourselves, the ``postgres`` system
    user's when we are root (which postgres refuses)."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise PostgresMissing(
            "running as root, and there is no `postgres` user to run the server as (postgres "
            "refuses root; Debian's postgresql package creates that user)"
        ) from None
    return user.pw_uid, user.pw_gid


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Cluster:
    """A running cluster: ``url(database)`` to connect to one of its databases as the
    superuser (trust authentication on loopback and the socket)."""

    root: Path
    bin_dir: Path
    port: int
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def socket_dir(self) -> Path:
        return self.root

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new, empty database; its URL."""
        import psycopg
        from psycopg import sql

        name = name or f"test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any connection still open on it."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def _run(command: Sequence[str], owner: tuple[int, int] | None, cwd: Path) -> None:
    done = subprocess.run(
        list(command),
        cwd=cwd,  # a folder the server's user can enter, which the caller's may not be
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
        # subprocess's own switch of user (setgid, setgroups, setuid in the child), as
        # `runuser -u postgres --` would do it
        user=None if owner is None else owner[0],
        group=None if owner is None else owner[1],
        extra_groups=None if owner is None else [],
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited {done.returncode}: {(done.stdout + done.stderr).strip()}"
        )


@contextmanager
def throwaway_cluster(*, attempts: int = 3) -> Iterator[Cluster]:
    """A cluster in a temp dir, running until the block ends; then stopped (``immediate``: its
    data is thrown away anyway) and removed. Raises ``PostgresMissing`` when this machine cannot
    run one."""
    bin_dir = find_postgres()
    owner = _server_user()
    root = Path(tempfile.mkdtemp(prefix="together-sim-pg-"))
    started: Cluster | None = None
    try:
        if owner is not None:
            os.chown(root, *owner)
        _run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(root / "data"),
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
                "--no-instructions",
            ],
            owner,
            root,
        )
        for attempt in range(attempts):  # a free port may be taken between probe and listen
            cluster = Cluster(root=root, bin_dir=bin_dir, port=_free_port())
            options = " ".join(
                [f"-p {cluster.port}", f"-k {root}"]
                + [f"-c {key}={value}" for key, value in _SERVER_SETTINGS.items()]
            )
            try:
                _run(
                    [
                        str(bin_dir / "pg_ctl"),
                        "start",
                        "--pgdata",
                        str(cluster.data_dir),
                        "--log",
                        str(cluster.log_file),
                        "--wait",
                        "--timeout",
                        "60",
                        "-o",
                        options,
                    ],
                    owner,
                    root,
                )
            except RuntimeError:
                if attempt == attempts - 1:
                    log = cluster.log_file.read_text() if cluster.log_file.exists() else ""
                    raise RuntimeError(f"PostgreSQL did not start; its log:\n{log}") from None
                continue
            started = cluster
            break
        assert started is not None
        yield started
    finally:
        try:
            if started is not None:
                stop = [str(bin_dir / "pg_ctl"), "stop", "--pgdata", str(started.data_dir)]
                _run([*stop, "--mode", "immediate", "--wait"], owner, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
