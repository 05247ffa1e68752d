"""A throwaway PostgreSQL server for the team-setup tests and `make bench`'s lake section (DuckLake
catalog, serving target, Dagster instance). Here, not under tests/, because bench must not import tests.

Debian's `postgresql-15` (`pg_config --bindir` names the folder with initdb and pg_ctl; `make test`
installs the package when it is missing, scripts/ensure_postgres.sh). PostgreSQL refuses to run as
root, so as root the server runs as the `postgres` user (runuser); the data folder is made
traversable for it. It listens on 127.0.0.1 on a free port, host connections need a password
(SCRAM), and it is stopped at teardown. Tests skip (and the bench section is skipped), saying why, when no
server can be started.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "postgres"
SUPERUSER_PASSWORD = "pg-Sup3r-s3cret"  # noqa: S105 (a throwaway server on 127.0.0.1)


def _bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if out.returncode == 0 and (Path(out.stdout.strip()) / "initdb").exists():
            return Path(out.stdout.strip())
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    host: str
    port: int
    root: Path

    def conninfo(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        password = SUPERUSER_PASSWORD if password is None and user == SUPERUSER else password
        info = f"host={self.host} port={self.port} dbname={dbname} user={user}"
        return info + (f" password={password}" if password else "")

    def url(self, dbname: str, user: str, password: str) -> str:
        return f"postgresql://{user}:{password}@{self.host}:{self.port}/{dbname}"

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.conninfo(dbname), autocommit=True) as con:
            con.execute(sql)

    def create_database(self, name: str) -> str:
        self.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.execute(f'CREATE DATABASE "{name}"')
        return name


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if not runuser:
        raise RuntimeError("running as root without runuser: cannot start PostgreSQL as a non-root user")
    return [runuser, "-u", SUPERUSER, "--", *cmd]


@contextlib.contextmanager
def postgres_server() -> Iterator[PgServer]:
    """Start the server; raises RuntimeError (with the reason) when it cannot be started here."""
    bindir = _bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql-15; make test does it)")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam(SUPERUSER)
        except KeyError:
            raise RuntimeError("running as root and there is no 'postgres' user to run the server") from None
    root = Path(tempfile.mkdtemp(prefix="liquidity-pg-"))
    root.chmod(0o755)
    data = root / "data"
    pwfile = root / "pwfile"
    pwfile.write_text(SUPERUSER_PASSWORD + "\n")
    if os.geteuid() == 0:
        os.chown(root, owner.pw_uid, owner.pw_gid)
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
    port = free_port()
    ctl = str(bindir / "pg_ctl")
    try:
        subprocess.run(
            _as_server_user(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    SUPERUSER,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ]
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        subprocess.run(
            _as_server_user([ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start"]),
            check=True,
            capture_output=True,
            timeout=120,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        log = (root / "log").read_text(errors="replace")[-2000:] if (root / "log").exists() else ""
        stderr = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(
            f"cannot start PostgreSQL: {stderr.decode(errors='replace')[-500:]} {log}"
        ) from exc
    try:
        yield PgServer("127.0.0.1", port, root)
    finally:
        subprocess.run(
            _as_server_user([ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)
