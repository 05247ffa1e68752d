"""Parsers on the real recorded files in ../shared/data (skipped when that folder is absent).

Expected row counts and values are computed from each file with the plain csv/json modules (an
independent reading), never hard-coded, except the few values traced to PROVENANCE.md.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from ingest import catalog, coingecko, fed_ddp, fred
from ingest.errors import HttpError, PayloadError

SHARED = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data").resolve()
D = dt.date.fromisoformat


def shared_files(*patterns: str) -> list:
    """One pytest param per matching file, or a single skipped param saying why there is none."""
    files = sorted({f for p in patterns for f in SHARED.glob(p)}) if SHARED.is_dir() else []
    if not files:
        reason = f"no {' / '.join(patterns)} under {SHARED} (../shared/data absent beside the project?)"
        return [pytest.param(None, marks=pytest.mark.skip(reason=reason), id="absent")]
    return [pytest.param(f, id=str(f.relative_to(SHARED))) for f in files]


def csv_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.reader(fh))


# --- fredgraph.csv (new and old formats) ---------------------------------------------------------

FREDGRAPH = shared_files(
    "fred/*.csv",
    "fred/old_format/*/*.csv",
    "fred/alt/Alexiszcv_SOFR3/*.csv",
    "fred/alt/qie2003_treasury-yield-forecast/*.csv",
    "replay/*/fred/fredgraph/*.csv",
)


@pytest.mark.parametrize("path", FREDGRAPH)
def test_fredgraph_real_file(path: Path):
    rows = csv_rows(path)
    header = rows[0]
    assert header[0] in ("observation_date", "DATE")
    series_id = header[1]
    expected = {D(r[0]): float(r[1]) for r in rows[1:] if r and r[1].strip() not in ("", ".")}
    frame = fred.parse_fredgraph_csv(path.read_bytes(), series_id)
    assert len(frame) == len(expected)  # every non-missing row, nothing else
    assert dict(zip(frame["observation_date"], frame["value"], strict=True)) == expected
    assert frame["observation_date"].is_monotonic_increasing


def test_old_format_tlaacbw027sbog_in_replay(replay_root: Path):
    for cut in ("2025-11-19", "2026-01-31"):
        path = replay_root / cut / "fred" / "fredgraph" / "TLAACBW027SBOG.csv"
        body = path.read_bytes()
        assert body.startswith(b"DATE,TLAACBW027SBOG\n")  # the pre-2024 header
        frame = fred.parse_fredgraph_csv(body, "TLAACBW027SBOG")
        data_rows = [r for r in csv_rows(path)[1:] if r and r[1] not in ("", ".")]
        assert len(frame) == len(data_rows)
        assert frame["observation_date"].max() == D(data_rows[-1][0])


def test_old_format_dot_is_missing(shared_data: Path):
    path = shared_data / "fred" / "old_format" / "HarrisHanif" / "RRPONTSYD.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    rows = csv_rows(path)[1:]
    dots = [D(r[0]) for r in rows if r[1] == "."]
    assert dots, "this recorded file is documented to contain '.' rows"
    frame = fred.parse_fredgraph_csv(path.read_bytes(), "RRPONTSYD")
    assert not set(dots) & set(frame["observation_date"])
    assert len(frame) == len(rows) - len(dots)


@pytest.mark.parametrize(
    "path", shared_files("fred/alt/opxie1_usd/GDP.csv", "fred/alt/jonsflow_risk-model/EFFR.csv")
)
def test_reserialized_copies_are_not_mistaken_for_fredgraph(path: Path):
    """`date,value` / `Date,Value` files written by other pipelines are refused with the reason."""
    with pytest.raises(PayloadError, match="unexpected CSV header"):
        fred.parse_fredgraph_csv(path.read_bytes(), path.stem)


# --- FRED API JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", shared_files("fred/api_json/**/*.json"))
def test_fred_api_json_real_file(path: Path):
    # daily_vintages/<SERIES>/<fetch time>.json: the series is the folder's name.
    series_id = path.parent.name if "daily_vintages" in path.parts else path.stem
    payload = json.loads(path.read_bytes())
    if "error_code" in payload:
        # A real error body (daily_vintages/error_429/: FRED's rate limit): an HttpError with FRED's
        # code as status (the transport retries an HTTP 429 before any body is parsed).
        with pytest.raises(HttpError, match=r"FRED error \d+") as info:
            fred.parse_api_observations(path.read_bytes(), "M2SL")
        assert info.value.status == payload["error_code"]
        return
    observations = payload["observations"]
    expected = {D(o["date"]): float(o["value"]) for o in observations if o["value"] != "."}
    frame = fred.parse_api_observations(path.read_bytes(), series_id)
    assert len(frame) == len(expected)
    assert dict(zip(frame["observation_date"], frame["value"], strict=True)) == expected


def test_fred_api_json_ten_decimals(shared_data: Path):
    path = shared_data / "fred" / "api_json" / "chzanotti_liquidez-monitor" / "WALCL.json"
    if not path.exists():
        pytest.skip(f"{path} absent")
    raw = {o["date"]: o["value"] for o in json.loads(path.read_bytes())["observations"]}
    assert raw["2026-08-05"] == "6748567.0000000000"  # PROVENANCE.md: 10-decimal string
    frame = fred.parse_api_observations(path.read_bytes(), "WALCL")
    values = dict(zip(frame["observation_date"], frame["value"], strict=True))
    assert values[D("2026-08-05")] == 6748567.0


# --- Fed DDP (H.4.1 and H.8) ---------------------------------------------------------------------

H41 = shared_files("h41/*.csv", "replay/*/fed_ddp/H41.csv")


def ddp_expected(path: Path, wanted: list[catalog.Series]) -> dict[str, dict[dt.date, float]]:
    rows = csv_rows(path)
    ids, multipliers = rows[5], rows[2]
    assert rows[5][0] == "Time Period" and rows[2][0] == "Multiplier:"
    out = {}
    for series in wanted:
        if series.series_id in ids:
            col = ids.index(series.series_id)
            mult = float(multipliers[col])
            out[series.series_id] = {
                D(r[0]): float(r[col]) * mult for r in rows[6:] if r and r[col].strip() not in ("", "NA")
            }
    return out


@pytest.mark.parametrize("path", H41)
def test_h41_real_file(path: Path):
    body = path.read_bytes()
    assert b"\r\n" in body and not body.endswith(b"\n")  # CRLF, no final newline
    wanted = catalog.series_for("fed_ddp", "H41")
    expected = ddp_expected(path, wanted)
    assert expected, "at least one catalog H.4.1 series is in each recorded extract"
    frame = fed_ddp.parse_ddp_csv(body, "H41", wanted)
    assert set(frame["series_id"]) == set(expected)
    for series_id, values in expected.items():
        part = frame[frame["series_id"] == series_id]
        assert len(part) == len(values), series_id
        assert dict(zip(part["observation_date"], part["value"], strict=True)) == values


@pytest.mark.parametrize(
    "path", shared_files("h41/FRB_H41_2021-04-28_2023-03-22.csv", "replay/*/fed_ddp/H41.csv")
)
def test_h41_btfp_values_from_provenance(path: Path):
    """PROVENANCE.md: RESPPALDK_N.WW 2023-03-15 = 11943, 2023-03-22 = 53669 (millions USD)."""
    frame = fed_ddp.parse_ddp_csv(path.read_bytes(), "H41", catalog.series_for("fed_ddp", "H41"))
    btfp = frame[frame["series_id"] == "RESPPALDK_N.WW"]
    values = dict(zip(btfp["observation_date"], btfp["value"], strict=True))
    assert values[D("2023-03-22")] == 53669e6
    assert values[D("2023-03-15")] == 11943e6


@pytest.mark.parametrize("path", shared_files("replay/*/fed_ddp/H8.csv", "other/fed_ddp/FRB_H8_all.csv"))
def test_h8_real_file(path: Path):
    body = path.read_bytes()
    assert b'"Unique Identifier:",' in body  # no trailing space in the H.8 files
    wanted = catalog.series_for("fed_ddp", "H8")
    expected = ddp_expected(path, wanted)["B1151NCBD"]
    frame = fed_ddp.parse_ddp_csv(body, "H8", wanted)
    assert len(frame) == len(expected)
    assert dict(zip(frame["observation_date"], frame["value"], strict=True)) == expected
    last = max(expected)
    assert frame["observation_date"].max() == last


def test_h8_growth_rate_file_is_refused(shared_data: Path):
    """The quarterly growth-rate H.8 file has no B1151NCBD and quarter labels: it is not our package."""
    path = shared_data / "other" / "fed_ddp" / "faizaan5ali_FederalReserveEconomicData" / "FRB_H8.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    required = [
        catalog.Series(**{**s.__dict__, "required": True}) for s in catalog.series_for("fed_ddp", "H8")
    ]
    with pytest.raises(PayloadError, match="fed_ddp B1151NCBD: column missing from the H8 DDP file"):
        fed_ddp.parse_ddp_csv(path.read_bytes(), "H8", required)


DDP_LABELLED = shared_files("h41/*.csv", "replay/*/fed_ddp/*.csv", "other/fed_ddp/FRB_H8_all.csv")
OMIT_RECORDING = "other/fed_ddp/natashk_EFF-Rate-Scrapper/FRB_H15_2023-01-09.csv"


@pytest.mark.parametrize("path", DDP_LABELLED)
def test_ddp_label_omit_is_shaped_like_the_recorded_download(path: Path, shared_data: Path):
    """`label=omit` as the replay serves it from a labelled recording: the two header rows, quoted and
    CRLF-ended exactly as in the one raw label-free DDP download on record (H.15, 2023-01-09), and the
    same values as the labelled file once scaled by `MULTIPLIERS`."""
    recorded = (shared_data / OMIT_RECORDING).read_bytes()
    release = "H8" if "H8" in path.name else "H41"
    body = path.read_bytes()
    served = fed_ddp.serve(body, {"label": "omit"})
    head, first_data = served.split(b"\r\n")[:2], served.split(b"\r\n")[2]
    recorded_head = recorded.split(b"\r\n")[:2]
    # same row labels (the H.8 files have no space after "Unique Identifier:", as in their labelled form)
    assert head[0].split(b",")[0].rstrip(b'" :') == recorded_head[0].split(b",")[0].rstrip(b'" :')
    assert head[1].split(b",")[0] == recorded_head[1].split(b",")[0] == b'"Time Period"'
    assert recorded_head[0].split(b",")[1] == b'"H15/H15/RIFSPFF_N.D"'
    assert head[0].split(b",")[1].startswith(f'"{release}/{release}/'.encode())
    assert first_data[:1].isdigit() and not served.endswith(b"\n") and not recorded.endswith(b"\n")
    assert fed_ddp.serve(body, {}) == body  # labelled, no window: the file as recorded
    wanted = catalog.series_for("fed_ddp", release)
    labelled = fed_ddp.parse_ddp_csv(body, release, wanted)
    bare = fed_ddp.parse_ddp_csv(served, release, wanted, labels=False)
    pd.testing.assert_frame_equal(bare, labelled)
    assert len(served) < len(body)


def test_ddp_labelled_and_label_free_windows_agree(shared_data: Path):
    """A window served both ways gives the same rows; the label-free header is what makes an
    incremental H.4.1 request small (the 191 series' descriptions, units and multipliers)."""
    path = shared_data / "replay" / "2026-01-31" / "fed_ddp" / "H41.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    body = path.read_bytes()
    params = {"from": "02/15/2023", "to": "03/22/2023"}
    wanted = catalog.series_for("fed_ddp", "H41")
    labelled = fed_ddp.serve(body, {**params, "label": "include"})
    bare = fed_ddp.serve(body, {**params, "label": "omit"})
    rows = fed_ddp.parse_ddp_csv(labelled, "H41", wanted, D("2023-02-15"), D("2023-03-22"))
    assert sorted(set(rows["observation_date"])) == [
        D("2023-02-15") + dt.timedelta(weeks=w) for w in range(6)
    ]
    pd.testing.assert_frame_equal(
        fed_ddp.parse_ddp_csv(bare, "H41", wanted, D("2023-02-15"), D("2023-03-22"), labels=False), rows
    )
    header = b"\r\n".join(body.split(b"\r\n")[:6])
    assert len(labelled) - len(bare) == len(header) - len(b"\r\n".join(body.split(b"\r\n")[4:6]))
    assert len(bare) < 0.5 * len(labelled)


def fredgraph_values(path: Path) -> dict[dt.date, float]:
    frame = fred.parse_fredgraph_csv(path.read_bytes(), path.stem)
    return dict(zip(frame["observation_date"], frame["value"], strict=True))


@pytest.mark.parametrize(
    ("h41_file", "ddp_id", "fred_file"),
    [
        ("FRB_H41_2021-04-28_2023-03-22.csv", "RESPPLLDT_XAW_N.WW", "WTREGEN.csv"),
        ("FRB_H41_2021-04-28_2023-03-22.csv", "RESH4R_XAW_N.WW", "WRESBAL.csv"),
        ("FRB_H41_2016-02-03_2017-12-27.csv", "RESPPMA_N.WW", "WALCL.csv"),
    ],
)
def test_ddp_reconciles_exactly_with_fred(shared_data: Path, h41_file, ddp_id, fred_file):
    """DOMAIN.md: DDP week averages equal WTREGEN/WRESBAL and RESPPMA_N.WW equals WALCL (millions)."""
    h41, fred_path = shared_data / "h41" / h41_file, shared_data / "fred" / fred_file
    if not h41.exists() or not fred_path.exists():
        pytest.skip(f"{h41} or {fred_path} absent")
    frame = fed_ddp.parse_ddp_csv(h41.read_bytes(), "H41", catalog.series_for("fed_ddp", "H41"))
    part = frame[frame["series_id"] == ddp_id]
    ddp = dict(zip(part["observation_date"], part["value"], strict=True))
    fred_values = fredgraph_values(fred_path)
    common = sorted(set(ddp) & set(fred_values))
    assert len(common) == len(ddp)  # every DDP week is in the FRED file
    assert all(ddp[d] == fred_values[d] * 1e6 for d in common)


# --- CoinGecko -----------------------------------------------------------------------------------

EXPORTS = shared_files(
    "coingecko/*-usd-max.csv",
    "coingecko/alt/beatthehodler*/*-usd-max.csv",
    "coingecko/alt/nfalck_LoftyAnalysis/*-usd-max.csv",
    "replay/*/coingecko/export/*-usd-max.csv",
)


@pytest.mark.parametrize("path", EXPORTS)
def test_coingecko_export_real_file(path: Path):
    rows = csv_rows(path)
    assert rows[0] == coingecko.EXPORT_HEADER
    data = [r for r in rows[1:] if r]
    frame = coingecko.parse_export_csv(path.read_bytes(), "bitcoin")
    assert len(frame) == len(data)
    assert frame["observation_date"].tolist() == [D(r[0][:10]) for r in data]
    assert frame["price_usd"].tolist() == [float(r[1]) for r in data]
    no_cap = sum(1 for r in data if r[2].strip() == "" or float(r[2]) == 0.0)
    assert int(frame["market_cap_usd"].isna().sum()) == no_cap  # empty and 0.0 caps are not values


@pytest.mark.parametrize("path", EXPORTS)
def test_coingecko_export_columnar_pass_equals_the_row_parser(path: Path):
    """The fast path must take real exports (or the speed-up is gone) and give the row parser's frame."""
    text = path.read_text(encoding="utf-8-sig")
    fast = coingecko._export_columnar(text, coingecko.EXPORT_LAYOUTS[0])
    rows = coingecko._parse_export_rows(text, "bitcoin", None)
    if fast is None:  # only files the row parser refuses or keeps identically may fall back
        assert coingecko.parse_export_csv(path.read_bytes(), "bitcoin").equals(rows)
        pytest.skip(f"{path.name}: the columnar pass leaves this file to the row parser")
    fast = coingecko._zero_to_null(fast, "market_cap_usd")
    pd.testing.assert_frame_equal(fast.reset_index(drop=True), rows.reset_index(drop=True))


def test_coingecko_2026_layout_real_file(shared_data: Path):
    """The real 2026-layout download: dates one day forward, in-progress last row dropped, and from
    2019 on (where the two layouts agree, see PROVENANCE.md) the classic export's value for the same
    snapshot, within CoinGecko's ~0.05% revisions."""
    path = shared_data / "coingecko" / "export_2026_layout" / "btc-usd-max.csv"
    classic_path = shared_data / "coingecko" / "btc-usd-max.csv"
    if not path.exists() or not classic_path.exists():
        pytest.skip(f"{path} or {classic_path} absent")
    rows = csv_rows(path)
    assert rows[0] == coingecko.EXPORT_HEADER_2026 and rows[-1][1] == ""
    data = [r for r in rows[1:-1] if r]
    frame = coingecko.parse_export_csv(path.read_bytes(), "bitcoin")
    assert len(frame) == len(data)
    assert frame["observation_date"].tolist() == [D(r[0][:10]) + dt.timedelta(days=1) for r in data]
    fast = coingecko._zero_to_null(
        coingecko._export_columnar(path.read_text(), coingecko.EXPORT_LAYOUTS[1]), "market_cap_usd"
    )
    pd.testing.assert_frame_equal(fast, coingecko._parse_export_rows(path.read_text(), "bitcoin", None))
    classic = coingecko.parse_export_csv(classic_path.read_bytes(), "bitcoin").set_index("snapped_at")
    new = frame.set_index("snapped_at")
    common = new.index.intersection(classic.index)
    common = common[(common >= pd.Timestamp("2019-01-01")) & (common < pd.Timestamp("2026-01-01"))]
    ratio = (new.loc[common, "price_usd"] / classic.loc[common, "price_usd"] - 1).abs()
    assert len(common) > 2000 and (ratio < 0.01).mean() > 0.98
    assert (
        new.loc[pd.Timestamp("2024-01-02"), "price_usd"]
        == classic.loc[pd.Timestamp("2024-01-02"), "price_usd"]
    )


def test_coingecko_reserialized_export_is_refused(shared_data: Path):
    path = shared_data / "coingecko" / "alt" / "AmbiguousError_btc" / "btc-usd-max.csv"
    if not path.exists():
        pytest.skip(f"{path} absent")
    with pytest.raises(PayloadError, match="coingecko bitcoin: export line 2: bad snapped_at '2013-04-28'"):
        coingecko.parse_export_csv(path.read_bytes(), "bitcoin")


def midnight_points(path: Path, key: str = "prices", chart: str | None = None) -> dict[dt.date, float]:
    payload = json.loads(path.read_bytes())
    if chart:
        payload = payload[chart]
    out = {}
    for stamp, value in payload[key]:
        when = dt.datetime.fromtimestamp(stamp / 1000, dt.UTC)
        if when.time() == dt.time(0):
            out[when.date()] = value
    return out


def test_terra_luna_verbatim_market_chart(shared_data: Path):
    path = shared_data / "coingecko" / "api_json" / "XiuqinCandice_NarrativeViz" / "market_chart.json"
    if not path.exists():
        pytest.skip(f"{path} absent")
    payload = json.loads(path.read_bytes())
    final_stamp, final_price = payload["prices"][-1]
    final = dt.datetime.fromtimestamp(final_stamp / 1000, dt.UTC)
    assert final.time() != dt.time(0)  # the recorded response ends with an intraday point
    expected = midnight_points(path)
    assert len(expected) == len(payload["prices"]) - 1
    frame = coingecko.parse_market_chart(path.read_bytes(), "terra-luna")
    assert len(frame) == len(expected)
    assert dict(zip(frame["observation_date"], frame["price_usd"], strict=True)) == expected
    last = frame.iloc[-1]
    assert last["observation_date"] == final.date()
    assert last["snapped_at"] == dt.datetime.combine(final.date(), dt.time(0))
    assert last["price_usd"] != final_price  # intraday point dropped, the 00:00 value kept
    caps = midnight_points(path, "market_caps")
    assert int(frame["market_cap_usd"].isna().sum()) == sum(1 for v in caps.values() if v == 0)


@pytest.mark.parametrize("path", shared_files("replay/*/coingecko/coins/*/market_chart.json"))
def test_replay_market_chart(path: Path):
    expected = midnight_points(path)
    frame = coingecko.parse_market_chart(path.read_bytes(), path.parent.name)
    assert dict(zip(frame["observation_date"], frame["price_usd"], strict=True)) == expected
    volumes = midnight_points(path, "total_volumes")
    assert frame["total_volume_usd"].tolist() == [volumes[d] for d in frame["observation_date"]]


@pytest.mark.parametrize("path", shared_files("replay/*/coingecko/global/market_cap_chart.json"))
def test_replay_market_cap_chart(path: Path):
    expected = midnight_points(path, "market_cap", chart="market_cap_chart")
    frame = coingecko.parse_market_cap_chart(path.read_bytes())
    assert len(frame) == len(expected)
    assert dict(zip(frame["observation_date"], frame["total_market_cap_usd"], strict=True)) == expected
    assert frame["total_volume_usd"].isna().all()  # the derived snapshot has no volume array


# --- catalog magnitude bands against the recorded data -------------------------------------------


@pytest.mark.parametrize("series", catalog.series_for("fred"), ids=lambda s: s.series_id)
def test_catalog_bands_hold_for_the_latest_replay_values(replay_root: Path, series: catalog.Series):
    path = replay_root / "2026-01-31" / "fred" / "fredgraph" / f"{series.series_id}.csv"
    if not path.exists():
        pytest.skip(f"replay 2026-01-31 has no {series.series_id} (documented gap)")
    frame = fred.parse_fredgraph_csv(path.read_bytes(), series.series_id, start=D("2021-01-01"))
    scaled = frame["value"] * series.scale
    assert scaled.between(series.min_value, series.max_value).all(), (
        f"{series.series_id}: {scaled.min()}..{scaled.max()} outside {series.min_value}..{series.max_value}"
    )
