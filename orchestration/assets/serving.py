"""Write-audit-publish: copy the audited marts into a fresh `serving.duckdb`, compare it with the
published one (the publish gate, `orchestration/publish_gate.py`) and swap it in atomically.

On a DuckLake warehouse the audited marts are first published inside the lake: the gate compares
`marts` with the `serving` schema, and `serving` is replaced in one DuckLake transaction
(`publish_in_warehouse`), which BI readers attached to the catalog from any machine see whole or not
at all; each publish is a snapshot that time travel reads again (README, Team setup). The local
serving.duckdb is then written from that published version."""

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import duckdb

from ingest import backend, settings
from ingest import warehouse as raw_db
from ingest.transport import install_log_redaction
from orchestration import pg_serving, publish_gate
from orchestration.assets.dbt import mart_keys
from orchestration.project import DBT_PROJECT
from orchestration.resources import WarehouseResource

SERVING_KEY = dg.AssetKey(["serving", "serving_duckdb"])
SERVING_SCHEMA = "serving"  # the published marts inside a DuckLake warehouse
PUBLISH_MESSAGE = "publish marts"  # DuckLake commit message prefix of every publish
Gate = Callable[[duckdb.DuckDBPyConnection, Path], publish_gate.GateResult]


class PublishBlocked(Exception):
    def __init__(self, gate: publish_gate.GateResult):
        super().__init__(gate.summary())
        self.gate = gate


class Superseded(Exception):
    """The lake's marts are not the ones this run built and checked (`publish_in_warehouse`)."""

    def __init__(self, build: tuple[str, str] | None):
        by = f"run {build[0]} ({build[1]})" if build else "no recorded build"
        super().__init__(f"the lake's marts were last built by {by}, not by this run")
        self.build = build


@dataclasses.dataclass(frozen=True)
class Published:
    counts: dict[str, int]  # rows per table
    gate: publish_gate.GateResult | None
    replaced: bool  # False: the marts equal the published ones, whose file was left untouched


def publish(
    warehouse: Path | backend.Backend,
    serving_path: Path,
    tables: list[str],
    gate: Gate | None = None,
    *,
    schema: str = "marts",
) -> Published:
    """Build the serving file next to its final place from `schema` of the warehouse (a DuckDB file
    path or a backend), let `gate` compare it with the published one, fsync it, then rename over the
    old one.

    Readers that opened the old file keep reading it; new readers see the new one; nobody sees a
    half-written file. A gate that blocks raises PublishBlocked and leaves the published file as it
    was (the candidate is removed). When the candidate's content equals the published file's
    (`publish_gate.content_digest`), the published file is left as it is (same inode and mtime, so
    readers and file watchers see nothing happen) and `replaced` is False.
    """
    source = warehouse if isinstance(warehouse, backend.Backend) else backend.current(warehouse)
    serving_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    # Also the leftovers (file and WAL) of a publish that was killed: its pid is in their names, so
    # nothing else removes them. Only those of dead processes: on the lake there is no writer lock, and
    # another run on this machine may be building its candidate right now.
    for stale in serving_path.parent.glob(f".{serving_path.name}.*.tmp*"):
        if not _pid_alive(stale.name, serving_path.name):
            stale.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    verdict = None
    con = duckdb.connect(str(tmp), config=dict(backend.CONNECTION_CONFIG))
    try:
        source.attach(con, "wh", read_only=True)
        with raw_db.transaction(con):  # one snapshot of the warehouse for every table
            for table in tables:
                con.execute(f"CREATE TABLE main.{table} AS SELECT * FROM wh.{schema}.{table} ORDER BY ALL")
                counts[table] = con.execute(f"SELECT count(*) FROM main.{table}").fetchone()[0]
        con.execute("DETACH wh")
        con.execute("CHECKPOINT")
        if gate is not None:
            verdict = gate(con, serving_path)
        unchanged = (verdict is None or verdict.passed) and publish_gate.content_digest(
            con, tables
        ) == publish_gate.published_digest(serving_path, tables)
    finally:
        con.close()
    if unchanged or (verdict is not None and not verdict.passed):
        for leftover in serving_path.parent.glob(f"{tmp.name}*"):
            leftover.unlink(missing_ok=True)
        if unchanged:
            return Published(counts, verdict, replaced=False)
        raise PublishBlocked(verdict)
    raw_db.replace_atomically(tmp, serving_path)
    return Published(counts, verdict, replaced=True)


def _pid_alive(leftover: str, serving_name: str) -> bool:
    """Whether the process named in a candidate's file name (`.<serving>.<pid>.tmp[.wal]`) is running
    and is not this one (this process's own leftover is from an earlier publish that failed)."""
    pid = leftover[len(serving_name) + 2 :].split(".", 1)[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@dataclasses.dataclass(frozen=True)
class InWarehouse:
    schema: str  # where BI readers find the published marts, inside the warehouse
    version: int  # the DuckLake snapshot that published them: `AT (VERSION => version)`
    replaced: bool  # False: the marts equalled the published ones, nothing was committed
    gate: publish_gate.GateResult


def publish_in_warehouse(
    where: backend.Backend, tables: list[str], rules: dict, *, allow_shrink: bool, run_id: str
) -> InWarehouse:
    """Write-audit-publish inside a DuckLake warehouse: the gate compares the audited `marts` with the
    published `serving` schema; a blocking verdict raises PublishBlocked with nothing committed;
    equal content commits nothing; otherwise every mart is copied into `serving` in one transaction
    (a conflicting concurrent commit is retried, `Backend.swap_in`).

    Only marts this run's dbt step built whole are copied (`Backend.built_by`): if another run
    rebuilt them since, or this run's build did not finish, Superseded is raised and nothing is
    committed, since the checks this run passed judged other tables. The caller holds `build_lock`."""
    with where.open() as con:
        verdict = publish_gate.evaluate(
            con,
            Path(f"{where.database}.{SERVING_SCHEMA}"),
            rules,
            allow_shrink=allow_shrink,
            candidate_schema="marts",
            published_schema=SERVING_SCHEMA,
            published_con=con,
        )
        if not verdict.passed:
            raise PublishBlocked(verdict)
        published = where.published_versions(con, PUBLISH_MESSAGE)
        digest = publish_gate.content_digest(con, tables, "marts")
        if published and digest == publish_gate.content_digest(con, tables, SERVING_SCHEMA):
            return InWarehouse(SERVING_SCHEMA, published[-1][0], False, verdict)
        build = where.built_by(con)
        if build != (run_id, "built"):
            raise Superseded(build)
        version = where.swap_in(con, "marts", SERVING_SCHEMA, tables, f"{PUBLISH_MESSAGE} (run {run_id})")
        return InWarehouse(SERVING_SCHEMA, version, True, verdict)


def gate_for(tables: list[str]) -> Gate:
    """The publish gate with each mart's rule from its dbt YAML and the LIQUIDITY_ALLOW_SHRINK override."""
    rules = publish_gate.rules_from_manifest(DBT_PROJECT.manifest_path, tables)
    allow = settings.allow_shrink()

    def gate(candidate: duckdb.DuckDBPyConnection, published: Path) -> publish_gate.GateResult:
        return publish_gate.evaluate(candidate, published, rules, allow_shrink=allow)

    return gate


@dg.asset(
    key=SERVING_KEY,
    deps=mart_keys(),
    group_name="serving",
    description="serving.duckdb: the audited marts for BI tools (read-only), replaced atomically after checks pass.",
    kinds={"duckdb"},
    owners=["team:data-engineering"],
)
def serving_duckdb(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    tables = [key.path[-1] for key in mart_keys()]
    target = settings.serving_path()
    where = warehouse.backend
    lake: InWarehouse | None = None
    try:
        # Never while another run rebuilds the marts.
        with warehouse.build_lock(on_wait=context.log.warning):
            if where.serves_in_warehouse:
                rules = publish_gate.rules_from_manifest(DBT_PROJECT.manifest_path, tables)
                lake = publish_in_warehouse(
                    where, tables, rules, allow_shrink=settings.allow_shrink(), run_id=context.run_id
                )
                # serving.duckdb on this machine: the version just published, already audited.
                done = publish(where, target, tables, schema=SERVING_SCHEMA)
                done = dataclasses.replace(done, gate=lake.gate)
            else:
                done = publish(where, target, tables, gate_for(tables))
    except Superseded as superseded:
        raise dg.Failure(
            description=f"{superseded}: nothing was published, since this run's checks judged other "
            "tables. BI readers keep the published version; the run that built these marts publishes them.",
            metadata={"marts_built_by": str(superseded.build)},
        ) from None
    except PublishBlocked as blocked:
        hint = ""
        if blocked.gate.shrinks and len(blocked.gate.shrinks) == len(blocked.gate.blocked):
            hint = " If the shrink is deliberate (e.g. a later LIQUIDITY_START), rerun with LIQUIDITY_ALLOW_SHRINK=1."
        raise dg.Failure(
            description=f"{blocked}. Nothing was published; BI readers keep the published version.{hint}",
            metadata={"publish_gate": dg.MetadataValue.json(blocked.gate.tables)},
        ) from None
    lake_metadata = {}
    postgres = pg_serving.target()
    if postgres is not None:  # the optional PostgreSQL serving target, from the file just published
        install_log_redaction(postgres.secrets())
        pg = pg_serving.publish(target, tables, postgres)
        lake_metadata["postgres"] = postgres.describe()
        lake_metadata["postgres_replaced"] = pg.replaced
        lake_metadata["postgres_digest"] = pg.digest
        context.log.info(
            "%s %s", "published to" if pg.replaced else "unchanged (same digest):", postgres.describe()
        )
    if lake is not None:
        lake_metadata = {
            "lake_serving_schema": f"{where.database}.{lake.schema}",
            "lake_published_version": lake.version,
            "lake_replaced": lake.replaced,
            "warehouse": where.describe(),
        }
        context.log.info(
            "%s %s.%s at DuckLake snapshot %s",
            "published to" if lake.replaced else "unchanged:",
            where.database,
            lake.schema,
            lake.version,
        )
    rows = ", ".join(f"{t}={n}" for t, n in done.counts.items())
    if done.replaced:
        context.log.info("published %s to %s", rows, target)
    else:
        context.log.info("%s left as it was: the marts equal the published ones (%s)", target, rows)
    context.log.info(done.gate.summary())
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(target)),
            "bytes": target.stat().st_size,
            "tables": dg.MetadataValue.json(done.counts),
            "replaced": done.replaced,
            "publish": "replaced"
            if done.replaced
            else "unchanged: the marts equal the published ones, so the file was not rewritten",
            "publish_gate": done.gate.summary(),
            "publish_gate_tables": dg.MetadataValue.json(done.gate.tables),
            **lake_metadata,
        }
    )
