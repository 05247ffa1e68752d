"""The report's tables: latest values with their dates, today's signals in plain language, and the
best lead of net liquidity for every configured coin."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from reporting.credits import series_id
from reporting.data import Serving, Thresholds, inputs_on, last_valid

MINUS = "\u2212"


@dataclass(frozen=True)
class LatestValue:
    group: str
    key: str  # mart column
    table: str  # mart
    label: str
    value: float | str
    display: str  # formatted value
    unit: str
    date: dt.date
    note: str = ""
    stale: bool = False


def _fmt(value: float, unit: str) -> str:
    if unit in ("USD bn", "USD bn per year"):
        return f"{value:,.1f}"
    if unit == "USD":
        return f"{value:,.0f}"
    if unit == "%":
        return f"{value:.2f}"
    if unit == "bp":
        return _signed(value)
    return f"{value:,}"


def _signed(value: float) -> str:
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text


def latest_values(serving: Serving) -> list[LatestValue]:
    d, c, q = serving.daily, serving.crypto, serving.adequacy
    through = serving.data_through
    crypto_through = c["date"].max().date()
    lag = serving.lag_days
    walcl, tga, rrp = series_id("fed_total_assets"), series_id("tga"), series_id("on_rrp")
    walcl_obs = d["fed_total_assets_observation_date"].dropna()
    walcl_note = f"{walcl} observation of {walcl_obs.iloc[-1].date()}" if len(walcl_obs) else ""
    specs = [
        (
            "liquidity_daily",
            d,
            "net_liquidity_bn",
            f"Net liquidity ({walcl} {MINUS} {tga} {MINUS} {rrp})",
            "USD bn",
            walcl_note,
        ),
        (
            "liquidity_daily",
            d,
            "net_liquidity_known_bn",
            "Net liquidity as known that day (release-aware)",
            "USD bn",
            "",
        ),
        ("liquidity_daily", d, "fed_total_assets_bn", f"Fed total assets ({walcl})", "USD bn", walcl_note),
        (
            "liquidity_daily",
            d,
            "fed_total_assets_13w_change_bn",
            "Fed total assets, change over 13 weeks",
            "USD bn",
            "",
        ),
        ("liquidity_daily", d, "tga_bn", f"Treasury General Account ({tga}, week average)", "USD bn", ""),
        ("liquidity_daily", d, "on_rrp_bn", f"ON RRP ({rrp})", "USD bn", ""),
        (
            "liquidity_daily",
            d,
            "reserves_bn",
            f"Reserve balances ({series_id('reserves')}, week average)",
            "USD bn",
            "",
        ),
        ("liquidity_daily", d, "sofr_pct", "SOFR", "%", ""),
        ("liquidity_daily", d, "iorb_pct", "IORB", "%", ""),
        ("liquidity_daily", d, "effr_pct", "EFFR", "%", ""),
        ("liquidity_daily", d, "sofr_iorb_spread_bp", f"SOFR {MINUS} IORB", "bp", ""),
        ("liquidity_daily", d, "sofr_effr_spread_bp", f"SOFR {MINUS} EFFR", "bp", ""),
        ("liquidity_daily", d, "gdp_bn", "Nominal GDP (SAAR, latest published quarter)", "USD bn", ""),
        ("liquidity_daily", d, "reserves_to_gdp_pct", "Reserves / GDP", "%", ""),
        ("liquidity_daily", d, "reserves_to_bank_assets_pct", "Reserves / commercial-bank assets", "%", ""),
        ("liquidity_daily", d, "reserve_regime", "Reserve regime", "", ""),
        ("liquidity_daily", d, "policy_phase", "Fed policy phase", "", ""),
        ("liquidity_daily", d, "balance_sheet_trend", "Balance-sheet trend (13 weeks)", "", ""),
        ("crypto_vs_liquidity", c, "btc_price_usd", "BTC price", "USD", ""),
        ("crypto_vs_liquidity", c, "btc_market_cap_usd", "BTC market cap", "USD bn", ""),
        ("crypto_vs_liquidity", c, "eth_market_cap_usd", "ETH market cap", "USD bn", ""),
        ("crypto_vs_liquidity", c, "total_market_cap_usd", "Total crypto market cap", "USD bn", ""),
        (
            "crypto_vs_liquidity",
            c,
            "net_liquidity_lagged_bn",
            f"Net liquidity as known {lag} days earlier (the configured lead)",
            "USD bn",
            "",
        ),
    ]
    groups = {
        "net_liquidity_bn": "Fed balance sheet and net liquidity",
        "sofr_pct": "Money markets",
        "gdp_bn": "Reserves",
        "policy_phase": "Policy",
        "btc_price_usd": "Crypto",
    }
    out = []
    group = ""
    for table, frame, column, label, unit, note in specs:
        group = groups.get(column, group)
        last = last_valid(frame, column)
        if last is None:
            continue
        day, value = last
        end = crypto_through if table == "crypto_vs_liquidity" else through
        if column.endswith("_market_cap_usd"):
            value = float(value) / 1e9
        stale = day < end
        if stale:
            note = f"stale: the latest value in serving.duckdb; data run to {end}" + (
                f"; {note}" if note else ""
            )
        display = str(value) if isinstance(value, str) else _fmt(float(value), unit)
        out.append(LatestValue(group, column, table, label, value, display, unit, day, note, stale))
    quarters = q.loc[q["reserves_to_gdp_pct"].notna()]
    if len(quarters):
        row = quarters.iloc[-1]
        start = row["quarter_start"].date()
        target = float(row["target_reserves_to_gdp_pct"])
        for column, label, unit in (
            ("reserves_needed_bn", f"Reserves needed for {target:g}% of GDP", "USD bn"),
            ("shortfall_or_excess_bn", "Reserves above (+) or below (\u2212) that target", "USD bn"),
            (
                "reserve_growth_needed_bn_per_yr",
                "Reserve growth needed per year to hold the target",
                "USD bn per year",
            ),
        ):
            value = float(row[column])
            out.append(
                LatestValue(
                    "Reserve adequacy (what it takes to hold the GDP target)",
                    column,
                    "reserve_adequacy",
                    label,
                    value,
                    _fmt(value, unit),
                    unit,
                    start,
                    f"quarter starting {start} (latest quarter with published GDP; reserves = quarter average)",
                )
            )
    return out


# --- signals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Signal:
    flag: str
    name: str
    state: str  # on | off | not evaluated
    reading: str
    meaning: str


def _v(row: pd.Series, column: str, fmt: str, unit: str = "") -> str:
    """A reading with its unit ('9.33%', '9.6 bn', '+3.0 bp'), or 'n/a' when the mart has NULL."""
    value = row[column]
    if pd.isna(value):
        return "n/a"
    text = _signed(float(value)) if fmt == "+.1f" else format(float(value), fmt)
    return f"{text}{unit}"


def todays_signals(serving: Serving, t: Thresholds) -> tuple[dt.date, list[Signal], str]:
    """The flags of liquidity_signals on its last day, each with what it means today."""
    s = serving.signals
    row = s.iloc[-1]
    day = row["date"].date()
    stale = inputs_on(s, "stale_inputs", day)
    missing = inputs_on(s, "missing_inputs", day)
    pct = int(round(t.sofr_effr_percentile * 100))

    def why_not(inputs: list[str]) -> str:
        parts = [f"{i} is stale (older than its maximum staleness)" for i in inputs if i in stale]
        parts += [f"{i} has no observation yet" for i in inputs if i in missing]
        return "; ".join(parts)

    defs = [
        (
            "sofr_above_iorb",
            "SOFR above IORB",
            ["sofr", "iorb"],
            f"SOFR {MINUS} IORB = {_v(row, 'sofr_iorb_spread_bp', '+.1f', ' bp')}; on above {t.sofr_iorb_threshold_bp:g} bp",
            "Secured overnight funding (repo) costs more than the Fed pays banks on their reserves: banks are no longer "
            "willing to lend reserves into repo at IORB, a sign that reserves are becoming scarce.",
            "Repo trades at or below the rate on reserves: no sign of reserve tightness from this measure.",
        ),
        (
            "sofr_effr_above_p95",
            f"SOFR {MINUS} EFFR unusually high",
            ["sofr", "effr"],
            f"SOFR {MINUS} EFFR = {_v(row, 'sofr_effr_spread_bp', '+.1f', ' bp')}; on above its trailing "
            f"{t.sofr_effr_lookback_days}-day {pct}th percentile ({_v(row, 'sofr_effr_spread_p95_bp', '.1f', ' bp')})",
            "Collateralised overnight cash is unusually expensive compared with unsecured fed funds: a sign of stress "
            "in repo funding (dealers' balance sheets or cash supply are stretched).",
            "The secured-unsecured spread is within its usual range of the past year.",
        ),
        (
            "on_rrp_below_buffer",
            "ON RRP buffer exhausted",
            ["on_rrp"],
            f"ON RRP = {_v(row, 'on_rrp_bn', ',.1f', ' bn')}; on below {t.on_rrp_buffer_bn:g} bn",
            "The money funds' excess cash parked at the Fed is nearly gone, so any further shrinking of the Fed "
            "balance sheet (or a rising TGA) now drains bank reserves directly.",
            "Excess cash is still parked at the Fed's reverse repo facility: balance-sheet runoff drains it before "
            "it drains bank reserves.",
        ),
        (
            "reserves_below_gdp_threshold",
            f"Reserves below {t.reserves_gdp_threshold_pct:g}% of GDP",
            ["reserves", "gdp"],
            f"Reserves / GDP = {_v(row, 'reserves_to_gdp_pct', '.2f', '%')}; on below {t.reserves_gdp_threshold_pct:g}%",
            "Bank reserves are below the share of GDP Fed officials have cited as comfortable: the system is closer "
            "to the zone where money-market rates start to rise.",
            "Reserves are above that share of GDP.",
        ),
        (
            "reserve_regime_scarce",
            "Scarce reserves (vs bank assets)",
            ["reserves", "bank_assets"],
            f"Reserves / bank assets = {_v(row, 'reserves_to_bank_assets_pct', '.2f', '%')}; abundant at "
            f">= {t.reserve_abundant_pct:g}%, ample at >= {t.reserve_scarce_pct:g}%, scarce below",
            "Reserves are a small share of bank assets: banks hold about the minimum they want, and small drains "
            "move overnight rates.",
            f"Reserves are {row['reserve_regime'] if pd.notna(row['reserve_regime']) else 'not scarce'} relative to "
            "bank assets.",
        ),
        (
            "standing_repo_used",
            "Standing repo facility used",
            ["standing_repo"],
            f"Standing repo = {_v(row, 'standing_repo_bn', ',.1f', ' bn')}; on above {t.standing_repo_used_min_bn:g} bn",
            "Dealers borrowed cash from the Fed's standing repo facility: private repo funding was dear enough that "
            "the Fed's backstop rate was competitive.",
            "Nobody needed the Fed's standing repo backstop.",
        ),
    ]
    signals = []
    for flag, name, inputs, reading, on_text, off_text in defs:
        value = row[flag]
        if pd.isna(value):
            reason = why_not(inputs)
            if flag == "standing_repo_used" and s["standing_repo_bn"].notna().sum() == 0:
                reason = f"{series_id('standing_repo')} has no observation in the warehouse"
            if flag == "sofr_effr_above_p95" and not reason and pd.isna(row["sofr_effr_spread_p95_bp"]):
                reason = "not enough history yet for the trailing percentile"
            signals.append(
                Signal(
                    flag,
                    name,
                    "not evaluated",
                    reading,
                    f"Cannot be evaluated today: {reason or 'an input is NULL'}.",
                )
            )
        else:
            on = bool(value)
            signals.append(Signal(flag, name, "on" if on else "off", reading, on_text if on else off_text))
    score = row["stress_score"]
    summary = (
        f"{int(row['n_flags_true'])} of {int(row['n_flags_evaluated'])} evaluable flags on "
        f"(stress score {float(score):.2f}, 0 = none, 1 = all)"
        if pd.notna(score)
        else "no flag can be evaluated"
    )
    return day, signals, summary


@dataclass(frozen=True)
class CoinLead:
    """One configured coin and period of liquidity_lag_scan: its best leads (market cap)."""

    coin: str  # CoinGecko id
    period: str
    lead_levels_days: int | None
    corr_levels: float | None
    lead_changes_days: int | None
    corr_changes: float | None
    first_date: dt.date
    last_date: dt.date

    @property
    def key(self) -> str:
        return f"{self.coin}/{self.period}"


def _int_or_none(value) -> int | None:
    return None if pd.isna(value) else int(value)


def _float_or_none(value) -> float | None:
    return None if pd.isna(value) else float(value)


def coin_leads(serving: Serving) -> list[CoinLead]:
    """Every configured coin (liquidity_lag_scan rows with a coin_id), by coin, then period ('full'
    first, then by start): the lead of net liquidity with the highest correlation, levels and changes."""
    scan = serving.lag_scan[serving.lag_scan["coin_id"].notna()]
    out = []
    for (coin, period), part in scan.groupby(["coin_id", "period"], sort=False):
        row = part.iloc[0]  # best_* repeat on every row of the coin and period
        out.append(
            CoinLead(
                coin=coin,
                period=period,
                lead_levels_days=_int_or_none(row["best_lead_levels_days"]),
                corr_levels=_float_or_none(row["best_corr_levels"]),
                lead_changes_days=_int_or_none(row["best_lead_changes_days"]),
                corr_changes=_float_or_none(row["best_corr_changes"]),
                first_date=pd.Timestamp(part["first_date"].min()).date(),
                last_date=pd.Timestamp(part["last_date"].max()).date(),
            )
        )
    starts = scan.groupby("period")["period_start"].min()
    return sorted(out, key=lambda c: (c.coin, pd.notna(starts[c.period]), str(starts[c.period]), c.period))


@dataclass(frozen=True)
class LeadInterval:
    """One wide asset, period and kind of liquidity_lag_scan: its best lead with the bootstrap intervals."""

    asset: str
    period: str
    kind: str  # levels | changes
    lead_days: int | None
    lead_low_days: int | None
    lead_high_days: int | None
    corr: float | None
    corr_low: float | None
    corr_high: float | None
    n_obs: int | None

    @property
    def key(self) -> str:
        return f"{self.asset}/{self.period}/{self.kind}"


def lead_intervals(serving: Serving) -> list[LeadInterval]:
    """btc, eth, total: the best-lead rows of liquidity_lag_scan per period (full first, then by
    start) and kind, with their moving-block bootstrap intervals."""
    scan = serving.lag_scan[serving.lag_scan["coin_id"].isna()]
    starts = scan.groupby("period")["period_start"].min()
    out = []
    for kind in ("levels", "changes"):
        best = scan[scan[f"is_best_{kind}"].fillna(False).astype(bool)]
        for r in best.itertuples(index=False):
            g = r._asdict()
            out.append(
                LeadInterval(
                    asset=g["asset"],
                    period=g["period"],
                    kind=kind,
                    lead_days=_int_or_none(g[f"best_lead_{kind}_days"]),
                    lead_low_days=_int_or_none(g[f"best_lead_{kind}_ci_low_days"]),
                    lead_high_days=_int_or_none(g[f"best_lead_{kind}_ci_high_days"]),
                    corr=_float_or_none(g[f"best_corr_{kind}"]),
                    corr_low=_float_or_none(g[f"best_corr_{kind}_ci_low"]),
                    corr_high=_float_or_none(g[f"best_corr_{kind}_ci_high"]),
                    n_obs=_int_or_none(g[f"n_obs_{kind}"]),
                )
            )
    order = {"btc": 0, "eth": 1, "total": 2}
    return sorted(
        out,
        key=lambda x: (
            order.get(x.asset, 9),
            pd.notna(starts[x.period]),
            str(starts[x.period]),
            x.kind != "levels",
        ),
    )


@dataclass(frozen=True)
class EventRow:
    """One policy event and kind of policy_event_windows, BTC's path and liquidity at a few days."""

    event_date: dt.date
    kind: str
    event: str
    source: str
    rate_change_bp: int | None
    btc_day0: float | None  # cumulative log return, day 0
    btc_day5: float | None
    btc_day30: float | None
    net_liquidity_day30_bn: float | None
    reserves_day30_bn: float | None
    sofr_iorb_day30_bp: float | None

    @property
    def key(self) -> str:
        return f"{self.event_date}/{self.kind}"


def event_table(serving: Serving) -> list[EventRow]:
    w = serving.event_windows
    btc = w[w["asset"] == "btc"]
    out = []
    for (day, kind), part in btc.groupby(["event_date", "event_kind"], sort=True):
        at = part.set_index("rel_day")

        def value(rel: int, column: str, at=at) -> float | None:
            return _float_or_none(at.loc[rel, column]) if rel in at.index else None

        first = part.iloc[0]
        out.append(
            EventRow(
                event_date=pd.Timestamp(day).date(),
                kind=kind,
                event=first["event"],
                source=first["source_document"],
                rate_change_bp=_int_or_none(first["rate_change_bp"]),
                btc_day0=value(0, "cum_log_return"),
                btc_day5=value(5, "cum_log_return"),
                btc_day30=value(30, "cum_log_return"),
                net_liquidity_day30_bn=value(30, "net_liquidity_change_bn"),
                reserves_day30_bn=value(30, "reserves_change_bn"),
                sofr_iorb_day30_bp=value(30, "sofr_iorb_change_bp"),
            )
        )
    return sorted(out, key=lambda e: (e.event_date, e.kind), reverse=True)
