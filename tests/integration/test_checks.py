"""Each Python check fails on a corrupted copy of a replay snapshot, and a failed blocking check
keeps the serving file byte-identical to the last good one."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from ingest import load, quality, warehouse
from tests.integration.conftest import replay, run_pipeline

CUT = "2025-11-19"


def corrupted_snapshot(tmp_path: Path, edit) -> Path:
    target = tmp_path / CUT
    shutil.copytree(replay(CUT), target)
    edit(target)
    return target


def load_raw(monkeypatch, data_dir: Path, snapshot: Path):
    monkeypatch.setenv("LIQUIDITY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LIQUIDITY_REPLAY_DIR", str(snapshot))
    load.load_all()
    return warehouse.connect(data_dir / "warehouse.duckdb")


def edit_line(path: Path, startswith: str, transform) -> None:
    newline = "\r\n" if b"\r\n" in path.read_bytes() else "\n"
    lines = path.read_bytes().decode().split(newline)
    hits = [i for i, line in enumerate(lines) if line.startswith(startswith)]
    assert len(hits) == 1, (path, startswith)
    replacement = transform(lines[hits[0]])
    if replacement is None:
        del lines[hits[0]]
    else:
        lines[hits[0]] = replacement
    path.write_bytes(newline.join(lines).encode())


def test_clean_snapshot_passes_every_blocking_rule(tmp_path, monkeypatch):
    with load_raw(monkeypatch, tmp_path / "data", replay(CUT)) as con:
        for source in ("fred", "fed_ddp"):
            assert quality.unit_drift(con, source).passed
            assert quality.continuity(con, source).passed
        assert quality.reconciliation(con).passed
        for table in ("raw.fred_observations", "raw.fed_ddp_observations", "raw.coingecko_market_chart"):
            assert quality.schema_drift(con, table).passed
        fresh = quality.freshness(con, "fred", dt.date(2025, 11, 19))
        assert fresh.passed, fresh.details
        assert fresh.warning  # TLAACBW027SBOG (ends 2021) and RPONTSYD (absent) are reported, not hidden
        stale = {e["series"] for e in fresh.details["stale_optional"]}
        assert stale == {"TLAACBW027SBOG", "RPONTSYD"}


def test_walcl_divided_by_1000_fails_unit_drift(tmp_path, monkeypatch):
    def edit(root: Path):
        edit_line(
            root / "fred/fredgraph/WALCL.csv",
            "2024-06-05,",
            lambda line: f"2024-06-05,{int(line.split(',')[1]) / 1000:.3f}",
        )

    with load_raw(monkeypatch, tmp_path / "data", corrupted_snapshot(tmp_path, edit)) as con:
        finding = quality.unit_drift(con, "fred")
    assert not finding.passed
    assert {o["series"] for o in finding.details["offending"]} == {"WALCL"}
    assert any(o["date"] == "2024-06-05" for o in finding.details["offending"])


def test_deleted_wednesday_fails_continuity(tmp_path, monkeypatch):
    def edit(root: Path):
        edit_line(root / "fred/fredgraph/WRESBAL.csv", "2024-06-05,", lambda line: None)

    with load_raw(monkeypatch, tmp_path / "data", corrupted_snapshot(tmp_path, edit)) as con:
        finding = quality.continuity(con, "fred")
    assert not finding.passed
    assert finding.details["gaps"] == [
        {"series": "WRESBAL", "after": "2024-05-29", "next": "2024-06-12", "gap_days": 14}
    ]


def test_ddp_week_average_changed_by_one_fails_reconciliation(tmp_path, monkeypatch):
    def edit(root: Path):
        path = root / "fed_ddp/H41.csv"
        header = path.read_bytes().decode().split("\r\n")[5].split(",")
        col = [c.strip('"') for c in header].index("RESPPLLDT_XAW_N.WW")

        def bump(line: str) -> str:
            cells = line.split(",")
            cells[col] = str(int(cells[col]) + 1)
            return ",".join(cells)

        edit_line(path, "2022-06-01,", bump)

    with load_raw(monkeypatch, tmp_path / "data", corrupted_snapshot(tmp_path, edit)) as con:
        finding = quality.reconciliation(con)
    assert not finding.passed
    assert finding.details["differences"][0]["date"] == "2022-06-01"
    assert finding.details["differences"][0]["pair"] == "RESPPLLDT_XAW_N.WW vs WTREGEN"


def test_renamed_raw_column_fails_schema_drift(tmp_path, monkeypatch):
    with load_raw(monkeypatch, tmp_path / "data", replay(CUT)) as con:
        con.execute("ALTER TABLE raw.fred_observations RENAME COLUMN known_on TO released_on")
        finding = quality.schema_drift(con, "raw.fred_observations")
    assert not finding.passed
    assert "known_on DATE" in finding.details["missing_or_changed"]


def test_blocking_check_failure_stops_publication(tmp_path, monkeypatch):
    """A good run publishes; a run on a snapshot with a unit error fails and leaves serving untouched."""
    data_dir = tmp_path / "data"
    good = run_pipeline(data_dir, CUT)
    assert good.success
    before = (data_dir / "serving.duckdb").read_bytes()

    def edit(root: Path):
        edit_line(root / "fred/fredgraph/WALCL.csv", "2025-11-19,", lambda line: "2025-11-19,6555.283")

    bad_root = corrupted_snapshot(tmp_path, edit)
    monkeypatch.setattr("tests.integration.conftest.REPLAY_ROOT", bad_root.parent)
    bad = run_pipeline(data_dir, CUT)
    assert not bad.success
    failed = [e for e in bad.get_asset_check_evaluations() if not e.passed and e.check_name == "unit_drift"]
    assert failed, "unit_drift should have failed"
    assert not any(e.step_key and "serving" in e.step_key and e.is_step_success for e in bad.all_events)
    assert (data_dir / "serving.duckdb").read_bytes() == before
