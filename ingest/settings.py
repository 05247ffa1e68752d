"""Every path and environment setting of the pipeline, in one place.

Values are read when a function is called, never at import time, so tests and the Dagster
resources can point the pipeline at another data dir by setting the environment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

DEFAULT_START = "2003-01-01"


def dbt_executable() -> str:
    """The `dbt` installed beside this interpreter (the project's .venv), else whatever is on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


# What every pipeline `dbt build` is given (orchestration/assets/dbt.py; `make bench` builds the same).
# dbt's unit tests check SQL logic on static inputs: the same answer on every run until a model
# changes, so they run where models change (`make test`: tests/dbt_unit, and CI), not in every
# pipeline run, as dbt's unit-test docs advise for production builds. Data tests (the checks) stay.
DBT_BUILD_ARGS = ("build", "--exclude-resource-type", "unit_test")


def data_dir() -> Path:
    """`LIQUIDITY_DATA_DIR`, default `data/` in the project; always absolute."""
    return Path(os.environ.get("LIQUIDITY_DATA_DIR") or PROJECT_ROOT / "data").resolve()


def warehouse_path() -> Path:
    """The embedded warehouse file: `LIQUIDITY_WAREHOUSE`, default `$LIQUIDITY_DATA_DIR/warehouse.duckdb`;
    always absolute.

    The one warehouse setting: ingest, dbt (through `dbt_env()` and profiles.yml), the checks and the
    publish all read it, so no part of a run can write to a different file than the others. A
    `ducklake:` value names a DuckLake catalog instead (ingest/backend.py, the one module that knows
    the backend); asking for its file raises ValueError."""
    from ingest import backend

    where = backend.current()
    if where.is_lake:
        raise backend.WarehouseSettingError(f"LIQUIDITY_WAREHOUSE is not a file: {where.describe()}")
    return where.path


def serving_path() -> Path:
    return data_dir() / "serving.duckdb"


def dbt_target_dir() -> Path:
    """Where the pipeline's dbt commands write their artifacts (manifest, run_results, compiled SQL,
    partial-parse state): one folder under the data dir, reused by every run, so it stays the size of
    one build (dagster-dbt's default adds a `dbt_models-*` folder to dbt_project/target per run)."""
    return data_dir() / "dbt_target"


def dbt_env() -> dict[str, str]:
    """The settings dbt reads (profiles.yml and dbt_project.yml use `env_var()`), as the pipeline
    resolved them: the warehouse (the file, or the DuckLake catalog profiles.yml's `lake` target
    attaches: ingest/backend.py) and `LIQUIDITY_START` (the first day of the calendar spine).
    Every dbt command the pipeline starts gets these; `python -m ingest.settings dbt-env` prints them
    as shell exports for a manual `dbt` call."""
    from ingest import backend

    return {**backend.current().dbt_env(), "LIQUIDITY_START": history_start().isoformat()}


@contextlib.contextmanager
def exported(values: dict[str, str]) -> Iterator[None]:
    """`values` in os.environ for the block only (for a subprocess that copies this process's
    environment when it starts, such as dagster-dbt's dbt); the previous values come back after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def report_dir() -> Path:
    """The static HTML report and its PNG charts (`make report`, the `report/liquidity_report` asset)."""
    return data_dir() / "report"


def landing_dir() -> Path:
    return data_dir() / "landing"


def replay_dir() -> Path | None:
    """`LIQUIDITY_REPLAY_DIR`: a replay snapshot folder; None means live HTTP."""
    value = os.environ.get("LIQUIDITY_REPLAY_DIR")
    if not value:
        return None
    path = Path(value).resolve()
    if not path.is_dir():
        raise FileNotFoundError(f"LIQUIDITY_REPLAY_DIR={value[:200]} does not exist or is not a directory")
    return path


@dataclass(frozen=True)
class ApiKeys:
    fred: str | None
    coingecko: str | None
    coingecko_plan: str

    def secrets(self) -> list[str]:
        return [s for s in (self.fred, self.coingecko) if s]


def api_keys() -> ApiKeys:
    plan = (os.environ.get("COINGECKO_PLAN") or "demo").strip().lower()
    if plan not in ("demo", "pro"):
        raise ValueError(f"COINGECKO_PLAN must be 'demo' or 'pro', not {plan!r}")
    return ApiKeys(
        fred=os.environ.get("FRED_API_KEY") or None,
        coingecko=os.environ.get("COINGECKO_API_KEY") or None,
        coingecko_plan=plan,
    )


EARLIEST_START = dt.date(1900, 1, 1)


def history_start() -> dt.date:
    """First date asked for on a first (full-history) run: `LIQUIDITY_START`, default 2003-01-01.

    Raises ValueError naming the setting when it is not a date YYYY-MM-DD between 1900-01-01 and
    today (a start in the future would load nothing and publish empty marts)."""
    raw = (os.environ.get("LIQUIDITY_START") or DEFAULT_START).strip()
    try:
        start = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"LIQUIDITY_START={raw[:40]!r} is not a date YYYY-MM-DD") from None
    today = dt.datetime.now(dt.UTC).date()
    if not EARLIEST_START <= start <= today:
        raise ValueError(f"LIQUIDITY_START={start} must lie between {EARLIEST_START} and today ({today})")
    return start


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def allow_shrink() -> bool:
    """`LIQUIDITY_ALLOW_SHRINK`: let the publish gate replace serving.duckdb with marts that have fewer
    rows or an earlier last date than the published ones (after a deliberate change such as a later
    `LIQUIDITY_START` or fewer coins). Default off."""
    raw = (os.environ.get("LIQUIDITY_ALLOW_SHRINK") or "").strip().lower()
    if raw not in _TRUE + _FALSE:
        raise ValueError(f"LIQUIDITY_ALLOW_SHRINK={raw[:20]!r} must be 1/true/yes or 0/false/no")
    return raw in _TRUE


def dagster_home() -> Path:
    """`DAGSTER_HOME`, default `$LIQUIDITY_DATA_DIR/dagster_home`; always absolute."""
    return Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home").resolve()


def writable_dir_problem(name: str, path: Path) -> str | None:
    """None when `path` is a directory this process can create files in, or could be created as one.
    Creates nothing: a refused run leaves no folder behind."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{name}={path} is not a writable directory ({probe} is a file)"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{name}={path} is not a writable directory ({probe} is not writable)"
    if probe == path:
        try:
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as exc:
            return f"{name}={path} is not a writable directory ({exc.strerror or type(exc).__name__})"
    return None


def configuration_problems() -> list[str]:
    """Every setting a user can get wrong, checked before anything is opened or requested; each
    message names the setting. Empty when all is well."""
    from ingest.errors import check_coin_id

    problems: list[str] = []
    for check in (history_start, api_keys, replay_dir, allow_shrink):
        try:
            check()
        except (ValueError, FileNotFoundError) as exc:
            problems.append(str(exc))
    from ingest import backend

    for name, path in (("LIQUIDITY_DATA_DIR", data_dir()), ("DAGSTER_HOME", dagster_home())):
        problem = writable_dir_problem(name, path)
        if problem:
            problems.append(problem)
    # the warehouse file's folder, or the lake's catalog, data path and extensions
    problem = backend.configuration_problem()
    if problem:
        problems.append(problem)
    for coin in coins():
        try:
            check_coin_id(coin)
        except ValueError as exc:
            problems.append(f"LIQUIDITY_COINS: {exc}")
    return problems


def coins() -> list[str]:
    """CoinGecko coin ids to ingest: `LIQUIDITY_COINS` (comma separated), default bitcoin,ethereum."""
    raw = os.environ.get("LIQUIDITY_COINS") or "bitcoin,ethereum"
    return [c.strip() for c in raw.split(",") if c.strip()]


if __name__ == "__main__":
    import shlex

    if sys.argv[1:] != ["dbt-env"]:
        raise SystemExit(
            "usage: python -m ingest.settings dbt-env   (prints the exports a manual dbt call needs)"
        )
    for name, value in dbt_env().items():
        print(f"export {name}={shlex.quote(value)}")


def dbt_var(name: str):
    """A var of the dbt project (`vars:` in dbt_project.yml), for the few Python rules whose limit
    lives there (one home)."""
    import yaml

    with (DBT_PROJECT_DIR / "dbt_project.yml").open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)["vars"][name]
