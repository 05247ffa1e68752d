"""The one module that knows which warehouse backend is in use.

`LIQUIDITY_WAREHOUSE` (ingest/settings.py `warehouse_setting`) names it:

- unset or a file path: the embedded DuckDB file (default `$LIQUIDITY_DATA_DIR/warehouse.duckdb`).
  One writing process at a time: writers hold `<file>.lock` (ingest/warehouse.py `writer_lock`).
- `ducklake:postgres:<libpq conninfo>`: a DuckLake catalog in PostgreSQL, for many processes on
  many machines;
- `ducklake:sqlite:<path>`: a DuckLake catalog in a SQLite file, for several processes on one machine.

  DuckLake keeps its data as Parquet files under `LIQUIDITY_LAKE_DATA_PATH` (a folder or an
  `s3://` prefix; default `$LIQUIDITY_DATA_DIR/lake/` for a SQLite catalog, required for a
  PostgreSQL one, since every machine must name the same place).

Every connection the pipeline opens comes from `Backend.open`: a DuckDB connection whose default
catalog (`USE`) is the warehouse, so `raw.fred_observations` or `marts.liquidity_daily` mean the
same tables on both backends and ingest, the checks, dbt (profiles.yml's `lake` target attaches the
same catalog, see `dbt_env`) and the publish run the same SQL. What differs is stated here once:

- DuckLake has no PRIMARY KEY or UNIQUE constraints (`ddl` drops them; uniqueness is a check);
- DuckLake lets several writers commit at once and refuses a commit that conflicts with one that
  came first: `retry_conflicts` reruns such a transaction a bounded number of times instead of a
  global lock (`writer_lock` is a no-op on the lake). Appends never conflict, though, so an upsert
  (read what is loaded, insert the rest) holds its table's `table_lock`: two runs loading the same
  new release would otherwise both insert it;
- building the marts and publishing them is one run's at a time on either backend (`build_lock`:
  the file's writer lock, or a lock every machine using the lake sees), and on the lake a run
  publishes only marts that it built itself (`mark_build` / `built_by`), never another run's.
- the lake needs the `ducklake`, `postgres`/`sqlite_scanner` (and for `s3://`, `httpfs`) DuckDB
  extensions: loaded from the `duckdb-extension-*` packages pinned with duckdb, with
  `autoinstall_known_extensions` off, so nothing is downloaded at run time.

A PostgreSQL conninfo may carry `password=`: `describe()` and `redact()` hide it. Prefer
`PGPASSWORD` or `~/.pgpass`, which libpq reads, so the setting holds no secret at all.

An `s3://` data path reads its credentials from the AWS SDK's variables: `AWS_ACCESS_KEY_ID`,
`AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), `AWS_REGION` or `AWS_DEFAULT_REGION`, and
`AWS_ENDPOINT_URL_S3` or `AWS_ENDPOINT_URL` for an S3-compatible store other than AWS (MinIO,
moto: path-style URLs, TLS as the URL's scheme says). `configure` turns them into a temporary
DuckDB secret in each connection, so they are never written to the catalog, a file or a log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import duckdb

from ingest import settings
from ingest.errors import redact as redact_secrets

LAKE_ALIAS = "lake"
LAKE_PREFIX = "ducklake:"
CATALOGS = ("postgres", "sqlite")
# Each extension the lake needs, and the PyPI package that ships its binary.
EXTENSION_PACKAGES = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres": "duckdb_extension_postgres",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "httpfs": "duckdb_extension_httpfs",
}
# Nothing is ever fetched: a missing extension fails loudly instead of trying the network.
CONNECTION_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}

CONFLICT_ATTEMPTS = 5
CONFLICT_BACKOFF_SECONDS = 0.2
# The lake's build lock in PostgreSQL: a session advisory lock with this key, in the catalog's database.
BUILD_LOCK_KEY = 0x6665644C  # "fedL"
BUILD_LOCK_POLL_SECONDS = 0.5
# How long an upsert on the lake waits for another run's upsert of the same raw table (`table_lock`).
TABLE_LOCK_TIMEOUT_SECONDS = 600.0
WAITING = "waiting for the lake's build lock: another run is building or publishing the marts"
# On the lake: which run last started building the marts, and whether that build finished.
BUILD_TABLE = "pipeline.marts_build"
_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)
_URI_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]+:)([^@\s]+)(@)", re.IGNORECASE)
_PRIMARY_KEY = re.compile(r",\s*PRIMARY KEY\s*\([^)]*\)\s*\)", re.IGNORECASE)

T = TypeVar("T")
log = logging.getLogger(__name__)
_BUILD_LOCKS_HELD: dict[tuple[int, str], int] = {}  # (thread, attach URL) -> depth: `build_lock` nests


class WarehouseSettingError(ValueError):
    """`LIQUIDITY_WAREHOUSE` or `LIQUIDITY_LAKE_DATA_PATH` cannot be used (the message names which)."""


def redact(text: str) -> str:
    """`text` with any PostgreSQL password (conninfo `password=...` or a URI's `user:pw@`) hidden."""
    return _URI_PASSWORD.sub(r"\1***\3", _PASSWORD.sub(r"\1***", text))


def conninfo_password(conninfo: str) -> str | None:
    match = _PASSWORD.search(conninfo) or _URI_PASSWORD.search(conninfo)
    if not match:
        return None
    value = match.group(2)
    return value[1:-1] if value.startswith("'") else value


def extension_path(name: str) -> Path:
    """The binary of DuckDB extension `name` shipped by its pinned PyPI package, for this DuckDB."""
    package = EXTENSION_PACKAGES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WarehouseSettingError(
            f"the DuckDB extension {name!r} is not installed: pip install {package.replace('_', '-')}"
            f"=={duckdb.__version__} (make prepare installs it)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    binary = path / f"{name}.duckdb_extension"
    if not binary.is_file():
        found = sorted(p.parent.name for p in path.parent.glob(f"*/{name}.duckdb_extension"))
        raise WarehouseSettingError(
            f"{package} ships the {name} extension for DuckDB {', '.join(found) or 'no version'}, "
            f"not for the installed DuckDB v{duckdb.__version__}: pin both to the same version"
        )
    return binary


# The name DuckDB gives an extension inside its binary (its entry point), where the package's file
# is named otherwise: `LOAD '<path>'` derives the entry point from the file name.
CANONICAL_NAMES = {"postgres": "postgres_scanner"}


def _loadable(name: str) -> Path:
    """A path to `name`'s binary that `LOAD` accepts: the package's own file, or a symbolic link to
    it under the canonical name, kept in a per-user cache folder (created once, never downloaded)."""
    binary = extension_path(name)
    canonical = CANONICAL_NAMES.get(name)
    if canonical is None:
        return binary
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fed-liquidity-duckdb"
    link = cache / f"v{duckdb.__version__}" / f"{canonical}.duckdb_extension"
    try:
        if not (link.is_symlink() and link.resolve() == binary.resolve()):
            link.parent.mkdir(parents=True, exist_ok=True)
            tmp = link.with_name(f".{link.name}.{os.getpid()}")
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(binary)
            os.replace(tmp, link)  # atomic: processes starting together all see a whole link
    except OSError as exc:
        raise WarehouseSettingError(f"cannot link the {name} DuckDB extension into {cache}: {exc}") from None
    return link


def load_extensions(con: duckdb.DuckDBPyConnection, names: list[str]) -> None:
    """LOAD each extension from its pinned package; never INSTALL, never the network."""
    for name in names:
        con.execute(f"LOAD '{_loadable(name)}'")


@dataclasses.dataclass(frozen=True)
class Backend:
    """Where the warehouse is. `kind` is `duckdb` (the file at `path`) or `ducklake`."""

    kind: str
    path: Path | None = None  # the DuckDB file
    catalog: str | None = None  # ducklake: postgres | sqlite
    target: str | None = None  # ducklake: the conninfo, or the SQLite file (absolute)
    data_path: str | None = None  # ducklake: where the Parquet files go (ends with '/')

    # -- what the rest of the pipeline may ask -------------------------------------------------
    @property
    def is_lake(self) -> bool:
        return self.kind == "ducklake"

    @property
    def enforces_keys(self) -> bool:
        """Whether the raw tables' primary keys exist (refuse a duplicate key): not on DuckLake."""
        return not self.is_lake

    @property
    def single_writer(self) -> bool:
        """The embedded file allows one writing process; the lake many."""
        return not self.is_lake

    @property
    def database(self) -> str:
        """The warehouse's catalog name inside a connection (`current_database()`)."""
        return LAKE_ALIAS if self.is_lake else self.path.stem

    @property
    def attach_url(self) -> str:
        return f"{LAKE_PREFIX}{self.catalog}:{self.target}"

    def describe(self) -> str:
        """For logs, metadata and the run summary: never a password."""
        if not self.is_lake:
            return str(self.path)
        return f"DuckLake {redact(self.attach_url)} (data {self.data_path})"

    @property
    def on_s3(self) -> bool:
        return self.is_lake and bool(self.data_path) and self.data_path.startswith("s3://")

    def secrets(self) -> list[str]:
        password = conninfo_password(self.target or "") if self.catalog == "postgres" else None
        found = [password] if password else []
        if self.on_s3:
            found += [
                os.environ[n] for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN") if os.environ.get(n)
            ]
        return found

    def exists(self) -> bool:
        """Whether there is a warehouse to read (a file; a lake catalog is assumed reachable)."""
        return self.is_lake or self.path.exists()

    def lock_path(self) -> Path | None:
        return None if self.is_lake else Path(str(self.path.resolve()) + ".lock")

    def extensions(self) -> list[str]:
        if not self.is_lake:
            return []
        names = ["ducklake", "postgres" if self.catalog == "postgres" else "sqlite_scanner"]
        if self.on_s3:
            names.append("httpfs")
        return names

    def configure(self, con: duckdb.DuckDBPyConnection) -> None:
        """What a connection needs before it attaches the lake (ingest, checks and publish through
        `attach`, dbt through ingest/dbt_plugin.py): the extensions, and for an `s3://` data path
        the S3 secret from the AWS variables (module docstring)."""
        load_extensions(con, self.extensions())
        if self.on_s3:
            try:
                con.execute(s3_secret_sql(os.environ))
            except duckdb.Error as exc:
                raise type(exc)(redact_secrets(str(exc), self.secrets())) from None

    def dbt_env(self) -> dict[str, str]:
        """What profiles.yml reads: the target (`embedded` or `lake`) and, for the lake, what its
        `attach` needs. The ducklake URL holds the conninfo as given (dbt reads it from the env)."""
        if not self.is_lake:
            return {"LIQUIDITY_DBT_TARGET": "embedded", "LIQUIDITY_WAREHOUSE": str(self.path)}
        return {
            "LIQUIDITY_DBT_TARGET": "lake",
            "LIQUIDITY_WAREHOUSE": self.attach_url,
            "LIQUIDITY_LAKE_DATA_PATH": self.data_path,
        }

    def ddl(self, ddl: str) -> str:
        """The raw DDL for this backend: on DuckLake without PRIMARY KEY clauses (unsupported there;
        the upserts never rely on them to be correct, and uniqueness is checked)."""
        return _PRIMARY_KEY.sub("\n)", ddl) if self.is_lake else ddl

    # -- connections ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def open(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose default catalog is the warehouse. Writers of the file must hold
        `writer_lock` (ingest/warehouse.py `connect` does); on the lake none is needed."""
        if not self.is_lake:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(self.path), read_only=read_only, config=dict(CONNECTION_CONFIG))
        else:
            con = duckdb.connect(":memory:", config=dict(CONNECTION_CONFIG))
            try:
                self.attach(con, LAKE_ALIAS, read_only=read_only)
                con.execute(f"USE {LAKE_ALIAS}")
            except BaseException:
                con.close()
                raise
        _OPEN[id(con)] = self
        try:
            yield con
        finally:
            _OPEN.pop(id(con), None)
            con.close()

    def attach(self, con: duckdb.DuckDBPyConnection, alias: str, *, read_only: bool) -> None:
        """Attach the warehouse to `con` as `alias` (the publish attaches it beside its target)."""
        if not self.is_lake:
            con.execute(f"ATTACH '{self.path}' AS {alias}" + (" (READ_ONLY)" if read_only else ""))
            return
        self.configure(con)
        if not read_only and not self.on_s3:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)
        options = [f"DATA_PATH '{_quote(self.data_path)}'"]
        if read_only:
            options.append("READ_ONLY")
        try:
            con.execute(f"ATTACH '{_quote(self.attach_url)}' AS {alias} ({', '.join(options)})")
        except duckdb.Error as exc:
            # DuckDB may quote the whole conninfo in its message: never let a password through.
            raise type(exc)(redact(str(exc))) from None

    @contextlib.contextmanager
    def writer_lock(self, timeout: float) -> Iterator[None]:
        """The embedded file's single-writer lock; nothing on the lake (conflicts are retried)."""
        if self.is_lake:
            yield
            return
        import filelock

        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(self.lock_path()), is_singleton=True)
        with lock.acquire(timeout=timeout):
            yield

    @contextlib.contextmanager
    def build_lock(self, timeout: float, on_wait: Callable[[str], object] | None = None) -> Iterator[None]:
        """Held while a run builds the marts (dbt) and while it publishes them, so two runs never
        rebuild the marts at once (dbt's writes are not conflict-retried) or publish a mix.
        The file: its writer lock. The lake, for every machine that uses the catalog: a PostgreSQL
        session advisory lock in the catalog's database (PostgreSQL drops it when its holder dies),
        or a file lock beside a SQLite catalog. Raw loads do not take it (each upsert holds its
        table's `table_lock`). Re-entrant within a process; TimeoutError after `timeout` seconds of waiting.
        `on_wait` (default: this module's logger) hears once that the lock is busy."""
        if not self.is_lake:
            with self.writer_lock(timeout):
                yield
            return
        key = (threading.get_ident(), self.attach_url)
        if _BUILD_LOCKS_HELD.get(key):
            _BUILD_LOCKS_HELD[key] += 1
            try:
                yield
            finally:
                _BUILD_LOCKS_HELD[key] -= 1
            return
        with self._lake_build_lock(timeout, on_wait or log.warning):
            _BUILD_LOCKS_HELD[key] = 1
            try:
                yield
            finally:
                _BUILD_LOCKS_HELD.pop(key, None)

    @contextlib.contextmanager
    def table_lock(self, table: str, timeout: float = TABLE_LOCK_TIMEOUT_SECONDS) -> Iterator[None]:
        """On the lake, held while one upsert compares its rows with `table` and writes the
        difference, for every machine that uses the catalog. DuckLake appends never conflict, so
        without it two runs loading the same new release both insert it and every key lands twice.
        Another table's writers are not held up. The file: nothing (one writer holds the file)."""
        if not self.is_lake:
            yield
            return
        key = BUILD_LOCK_KEY << 32 | zlib.crc32(table.encode())  # beside the build lock's key

        def busy() -> str:
            return (
                f"another run held the write lock of {table} on {self.describe()} for more than "
                f"{timeout:.0f} s: nothing of this load was written to it"
            )

        with self._lake_lock(
            key, f"{self.target}.{table}.lock", timeout, log.info, f"waiting to write {table}", busy
        ):
            yield

    @contextlib.contextmanager
    def _lake_build_lock(self, timeout: float, on_wait: Callable[[str], object]) -> Iterator[None]:
        with self._lake_lock(
            BUILD_LOCK_KEY,
            f"{self.target}.build.lock",
            timeout,
            on_wait,
            WAITING,
            lambda: self._lock_busy(timeout),
        ):
            yield

    @contextlib.contextmanager
    def _lake_lock(
        self,
        key: int,
        lock_file: str,
        timeout: float,
        on_wait: Callable[[str], object],
        waiting: str,
        busy: Callable[[], str],
    ) -> Iterator[None]:
        """A lock every machine using the lake sees: a PostgreSQL session advisory lock on `key` in
        the catalog's database (dropped when its holder dies), or `lock_file` beside a SQLite
        catalog (released by the OS likewise). `on_wait` hears `waiting` once; TimeoutError(busy())."""
        if self.catalog == "sqlite":
            import filelock

            lock = filelock.FileLock(lock_file)
            try:
                try:
                    lock.acquire(timeout=0)
                except filelock.Timeout:
                    on_wait(waiting)
                    lock.acquire(timeout=timeout)
            except filelock.Timeout:
                raise TimeoutError(busy()) from None
            try:
                yield
            finally:
                lock.release()
            return
        import psycopg

        try:
            conn = psycopg.connect(self.target, autocommit=True, application_name="fed-liquidity lake lock")
        except psycopg.Error as exc:
            raise WarehouseSettingError(
                f"cannot reach the lake's PostgreSQL catalog for its lock: "
                f"{redact_secrets(redact(str(exc)), self.secrets()).strip()}"
            ) from None
        with conn:
            deadline = time.monotonic() + timeout
            waited = False
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", [key]).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise TimeoutError(busy())
                if not waited:
                    on_wait(waiting)
                    waited = True
                time.sleep(BUILD_LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", [key])

    def _lock_busy(self, timeout: float) -> str:
        return (
            f"another run held the build lock of {self.describe()} for more than {timeout:.0f} s "
            "(it builds or publishes the marts): nothing was built or published by this run"
        )

    def mark_build(self, run_id: str, state: str) -> None:
        """On the lake, under `build_lock`: record that `run_id` is building the marts (`building`,
        before dbt starts) or has built them whole (`built`, after dbt succeeded). The file: nothing
        (its writer lock spans one process, and `built_by` is not asked there)."""
        if not self.is_lake:
            return
        schema, _ = BUILD_TABLE.split(".")

        def write(con: duckdb.DuckDBPyConnection) -> None:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
                con.execute(
                    f"CREATE TABLE IF NOT EXISTS {BUILD_TABLE} (run_id VARCHAR, state VARCHAR, recorded_at TIMESTAMPTZ)"
                )
                con.execute(f"DELETE FROM {BUILD_TABLE}")
                con.execute(f"INSERT INTO {BUILD_TABLE} VALUES (?, ?, now())", [run_id, state])
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

        with self.open() as con:
            self.retry_conflicts(lambda: write(con))

    def built_by(self, con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
        """(run id, state) of the last build `mark_build` recorded on the lake; None if none was."""
        try:
            row = con.execute(f"SELECT run_id, state FROM {BUILD_TABLE}").fetchone()
        except duckdb.CatalogException:  # no build recorded yet (a lake from before build records)
            return None
        return (row[0], row[1]) if row else None

    def checkpoint(self, con: duckdb.DuckDBPyConnection) -> None:
        """The file: DuckDB `CHECKPOINT` (see ingest/warehouse.py). The lake: nothing, since every
        commit already wrote its Parquet files, and DuckLake's CHECKPOINT runs maintenance
        (expiring snapshots, merging files) that must stay a deliberate step (README, time travel)."""
        if not self.is_lake:
            con.execute("CHECKPOINT")

    @property
    def serves_in_warehouse(self) -> bool:
        """Whether BI readers read the published marts inside the warehouse (DuckLake's `serving`
        schema, published in one transaction) besides the serving file. The file cannot: its one
        writer would lock every reader out."""
        return self.is_lake

    def swap_in(
        self, con: duckdb.DuckDBPyConnection, source: str, target: str, tables: list[str], message: str
    ) -> int:
        """Replace schema `target`'s `tables` with copies of `source`'s in ONE DuckLake transaction
        (readers see all the old tables or all the new ones, never a mix), retried on a conflict.
        Returns the snapshot id of that commit (`AT (VERSION => id)` reads it later); `message`
        is its commit message, which `published_versions` finds again."""
        if not self.is_lake:
            raise WarehouseSettingError("the embedded file publishes to serving.duckdb only")

        def swap() -> None:
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(
                    "CALL ducklake_set_commit_message(?, 'fed-liquidity-pipeline', ?)",
                    [self.database, message],
                )
                con.execute(f"CREATE SCHEMA IF NOT EXISTS {target}")
                for table in tables:
                    con.execute(
                        f'CREATE OR REPLACE TABLE {target}."{table}" AS SELECT * FROM {source}."{table}" ORDER BY ALL'
                    )
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")

        self.retry_conflicts(swap)
        return self.published_versions(con, message)[-1][0]

    def published_versions(self, con: duckdb.DuckDBPyConnection, message: str) -> list[tuple[int, object]]:
        """(snapshot id, time) of every commit whose message starts with `message`, oldest first."""
        return con.execute(
            f"SELECT snapshot_id, snapshot_time FROM {self.database}.snapshots() "
            "WHERE starts_with(commit_message, ?) ORDER BY snapshot_id",
            [message],
        ).fetchall()

    def retry_conflicts(self, body: Callable[[], T], *, attempts: int = CONFLICT_ATTEMPTS) -> T:
        """Run `body` (one whole transaction) again when DuckLake refuses its commit because another
        writer committed a conflicting change first; at most `attempts` times, with a growing pause.
        Any other error, and the last conflict, propagate. The file has no such conflicts (one writer)."""
        for attempt in range(1, attempts + 1):
            try:
                return body()
            except duckdb.Error as exc:
                if not (self.is_lake and is_conflict(exc)) or attempt == attempts:
                    raise
                pause = CONFLICT_BACKOFF_SECONDS * 2 ** (attempt - 1)
                # Said once per refused commit, so a run's log shows how often writers collided.
                log.warning(
                    "DuckLake commit conflict (attempt %d of %d), retrying in %.1f s: %s",
                    attempt,
                    attempts,
                    pause,
                    redact(str(exc)).splitlines()[-1][:200],
                )
                time.sleep(pause)
        raise AssertionError("unreachable")


# The backend of each connection `Backend.open` handed out and that is still open (see `of`).
_OPEN: dict[int, Backend] = {}
_UNREGISTERED = Backend("duckdb")


S3_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def s3_secret_sql(env: Mapping[str, str]) -> str:
    """CREATE SECRET for the lake's S3 data path, from the AWS SDK's variables in `env`."""
    options = [
        "TYPE s3",
        f"KEY_ID '{_quote(env.get('AWS_ACCESS_KEY_ID', ''))}'",
        f"SECRET '{_quote(env.get('AWS_SECRET_ACCESS_KEY', ''))}'",
    ]
    if env.get("AWS_SESSION_TOKEN"):
        options.append(f"SESSION_TOKEN '{_quote(env['AWS_SESSION_TOKEN'])}'")
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        options.append(f"REGION '{_quote(region)}'")
    endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options += [
            f"ENDPOINT '{_quote(parts.netloc)}'",
            "URL_STYLE 'path'",
            f"USE_SSL {'true' if parts.scheme == 'https' else 'false'}",
        ]
    return f"CREATE OR REPLACE TEMPORARY SECRET liquidity_lake_s3 ({', '.join(options)})"


def of(con: duckdb.DuckDBPyConnection) -> Backend:
    """The backend `con` was opened on; a connection opened elsewhere (a plain `duckdb.connect` of a
    file, as tests do) counts as the embedded file."""
    return _OPEN.get(id(con), _UNREGISTERED)


def is_conflict(exc: BaseException) -> bool:
    """A DuckLake commit refused because a concurrent transaction changed the same thing first, or a
    SQLite catalog busy with another writer's commit ("database is locked"): both heal on a rerun."""
    text = str(exc).lower()
    return (
        isinstance(exc, duckdb.TransactionException)
        or ("conflict" in text and ("transaction" in text or "ducklake" in text))
        or "database is locked" in text
    )


def _quote(value: str) -> str:
    return value.replace("'", "''")


def parse(value: str | None, *, data_path: str | None = None) -> Backend:
    """The backend a `LIQUIDITY_WAREHOUSE` value names (None or '' means the default file).
    Raises WarehouseSettingError naming the setting."""
    value = (value or "").strip()
    if not value:
        return Backend("duckdb", path=settings.data_dir() / "warehouse.duckdb")
    if not value.startswith(LAKE_PREFIX):
        if value.startswith("md:"):
            raise WarehouseSettingError(
                "LIQUIDITY_WAREHOUSE=md:... (MotherDuck) is a documented dbt profile only (README, "
                "Team setup), not a warehouse backend of the pipeline"
            )
        return Backend("duckdb", path=Path(value).resolve())
    catalog, _, target = value[len(LAKE_PREFIX) :].partition(":")
    if catalog not in CATALOGS or not target.strip():
        raise WarehouseSettingError(
            f"LIQUIDITY_WAREHOUSE={redact(value)[:120]!r}: use ducklake:postgres:<libpq conninfo> or "
            "ducklake:sqlite:<path>"
        )
    target = target.strip()
    if catalog == "sqlite":
        target = str(Path(target).resolve())
    data_path = (data_path or "").strip()
    if not data_path:
        if catalog == "postgres":
            raise WarehouseSettingError(
                "LIQUIDITY_LAKE_DATA_PATH must be set for a ducklake:postgres: warehouse (a folder or an "
                "s3:// prefix every machine reaches by the same name)"
            )
        data_path = str(settings.data_dir() / "lake")
    if not data_path.startswith("s3://"):
        data_path = str(Path(data_path).resolve())
    return Backend("ducklake", catalog=catalog, target=target, data_path=data_path.rstrip("/") + "/")


def current(path: Path | str | None = None) -> Backend:
    """The backend of this run (settings read now); `path` names a DuckDB file explicitly (tests,
    tools pointed at one file)."""
    if path is not None:
        return Backend("duckdb", path=Path(path).resolve())
    return parse(os.environ.get("LIQUIDITY_WAREHOUSE"), data_path=os.environ.get("LIQUIDITY_LAKE_DATA_PATH"))


def configuration_problem() -> str | None:
    """What is wrong with the warehouse settings, or None (ingest/settings.configuration_problems)."""
    try:
        where = current()
        for name in where.extensions():
            extension_path(name)
    except WarehouseSettingError as exc:
        return str(exc)
    if where.is_lake:
        if where.catalog == "sqlite":
            problem = settings.writable_dir_problem("LIQUIDITY_WAREHOUSE", Path(where.target).parent)
            if problem:
                return problem
        if not where.on_s3:
            return settings.writable_dir_problem("LIQUIDITY_LAKE_DATA_PATH", Path(where.data_path))
        missing = [name for name in S3_CREDENTIALS if not os.environ.get(name)]
        if missing:
            return (
                f"LIQUIDITY_LAKE_DATA_PATH={where.data_path} needs {' and '.join(missing)} (and "
                "AWS_ENDPOINT_URL_S3 for an S3-compatible store other than AWS)"
            )
        return None
    if os.environ.get("LIQUIDITY_WAREHOUSE"):
        return settings.writable_dir_problem("LIQUIDITY_WAREHOUSE", where.path.parent)
    return None
