"""The report's charts as Vega-Lite specs built with Vega-Altair: one chart layer for the page and
the Dagster UI.

The page embeds each spec and renders it in the browser with the Vega bundle inlined once (see
`reporting.html`): hover shows values, drag pans and the wheel zooms the time axis (double-click
resets). The Dagster UI gets a PNG of the same spec rendered by vl-convert (no browser, offline).

Data go into the specs as inline CSV (`_inline`), the most compact form Vega-Lite reads; series
that change weekly or less are thinned to the days their value changes (drawn as steps), so the
page stays small without moving any point.

Every chart carries, in its subtitle and in the page's caption: its data-through date, a note for
each stale input, and the credit each provider asks for; its source series ids are in the caption.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

import altair as alt
import numpy as np
import pandas as pd

from reporting import credits
from reporting.data import Serving, Thresholds, last_valid, stale_since

MINUS = "\u2212"
# Okabe-Ito colour-blind-safe palette.
ORANGE, SKY, GREEN, YELLOW, BLUE, VERMILION, PURPLE, BLACK = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#000000",
)
WIDTH, HEIGHT = 1040, 380
POINTER_OPACITY = 0.001  # marks that only catch the pointer (hover), invisible
# Shading of policy phases by liquidity_daily.policy_stance (seed fed_policy_events.stance).
STANCE_STYLE = {
    "expanding": (GREEN, 0.13, "asset purchases / lending (QE)"),
    "tapering": (YELLOW, 0.25, "purchases tapering"),
    "shrinking": (VERMILION, 0.11, "balance-sheet runoff (QT)"),
}


@dataclass
class Chart:
    slug: str
    title: str
    caption: str
    series: list[str]
    data_through: dt.date
    stale_notes: list[str]
    credits: list[str]
    chart: alt.TopLevelMixin = field(repr=False)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)  # what is drawn, by layer

    def spec(self) -> dict:
        return self.chart.to_dict()

    def png(self, scale: float = 1.0) -> bytes:
        """The same spec as a PNG (vl-convert, no browser), minus what only a pointer uses: the
        invisible hover layer and its rule (thousands of marks that look like nothing) and the
        selection parameters. Pixel for pixel what the page shows before any hover."""
        import vl_convert

        return vl_convert.vegalite_to_png(_static(self.spec()), scale=scale)


def _static(spec):
    if isinstance(spec, list):
        return [_static(x) for x in spec if not _pointer_only(x)]
    if isinstance(spec, dict):
        return {k: _static(v) for k, v in spec.items() if k != "params"}
    return spec


def _pointer_only(layer) -> bool:
    if not isinstance(layer, dict) or "mark" not in layer:
        return False
    mark = layer["mark"] if isinstance(layer["mark"], dict) else {}
    uses_param = any(
        isinstance(t.get("filter"), dict) and "param" in t["filter"] for t in layer.get("transform", [])
    )
    encoding = json.dumps(layer.get("encoding", {}))
    return mark.get("opacity") == POINTER_OPACITY or uses_param or '"param"' in encoding


# --- helpers -------------------------------------------------------------------------------------


def _inline(frame: pd.DataFrame) -> alt.InlineData:
    """A frame as inline CSV: `day` columns become ISO dates (parsed as dates), numbers stay
    numbers; NULL is an empty field, which Vega reads as null (a gap, never a zero)."""
    out = frame.copy()
    parse = {}
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
            parse[col] = "date:'%Y-%m-%d'"
        elif pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
            parse[col] = "number"
    return alt.InlineData(
        values=out.to_csv(index=False, float_format="%.6g"), format={"type": "csv", "parse": parse}
    )


def _changes_only(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Rows where any of `columns` differs from the row before, plus the last row: a step line
    through them is the daily line, point for point."""
    values = frame[columns]
    changed = values.ne(values.shift()) & ~(values.isna() & values.shift().isna())
    keep = changed.any(axis=1)
    keep.iloc[-1] = True
    return frame.loc[keep]


def _zoom(name: str = "zoom") -> alt.Parameter:
    return alt.selection_interval(name=name, bind="scales", encodings=["x"])


def _hover_layers(
    data, x: str, fields: list[tuple[str, str, str]], x_title: str = "date", name: str = "hover"
):
    """A vertical rule that follows the pointer to the nearest x, with every field's value in the
    tooltip. fields: (column, title, d3 format)."""
    nearest = alt.selection_point(
        name=name, fields=[x], nearest=True, on="pointerover", clear="pointerout", empty=False
    )
    tooltip = [alt.Tooltip(f"{x}:T", title=x_title, format="%Y-%m-%d")] + [
        alt.Tooltip(f"{col}:Q", title=title, format=fmt) for col, title, fmt in fields
    ]
    # the pointer layer also carries the zoom/pan of the x axis (one per view: a concat has several)
    selectors = (
        alt.Chart(data)
        .transform_filter(f"isValid(datum.{x})")
        .mark_rule(strokeWidth=10, opacity=POINTER_OPACITY)
        .encode(x=f"{x}:T", tooltip=tooltip)
        .add_params(nearest, _zoom(f"zoom_{name}"))
    )
    rule = alt.Chart(data).mark_rule(color="#777777").encode(x=f"{x}:T").transform_filter(nearest)
    return selectors, rule


def _one_row(data) -> alt.Chart:
    """A layer over the chart's own dataset, reduced to one row: for reference lines and bands.
    (Every layer of a chart reads one dataset: a second one next to a nearest-point hover
    selection left the lines undrawn in Vega-Lite 6.)"""
    return alt.Chart(data).transform_aggregate(n="count()")


def _ref_rule(data, *, y=None, x_day: dt.date | None = None, color="#555555", dash=(4, 3), label: str = ""):
    if x_day is not None:
        enc = {"x": alt.datum(alt.DateTime(year=x_day.year, month=x_day.month, date=x_day.day))}
    else:
        enc = {"y": alt.datum(y)}
    rule = _one_row(data).mark_rule(color=color, strokeDash=list(dash) if dash else [1, 0]).encode(**enc)
    return rule.encode(tooltip=alt.value(label)) if label else rule


def _ref_band(data, lo: float, hi: float, color: str, label: str):
    band = (
        _one_row(data)
        .mark_rect(color=color, opacity=0.15)
        .encode(y=alt.datum(lo), y2=alt.datum(hi), tooltip=alt.value(label))
    )
    text = (
        _one_row(data)
        .mark_text(align="left", baseline="top", dx=4, dy=3, fontSize=10, color="#333333")
        .encode(x=alt.value(0), y=alt.datum(hi), text=alt.value(label))
    )
    return band + text


def _phase_frame(daily: pd.DataFrame, start, end) -> pd.DataFrame:
    """Runs of (policy_phase, policy_stance) between start and end, for shading."""
    d = daily.loc[
        (daily["date"] >= start) & (daily["date"] <= end), ["date", "policy_phase", "policy_stance"]
    ]
    change = d["policy_phase"].ne(d["policy_phase"].shift())
    starts = d.loc[change].reset_index(drop=True)
    ends = list(starts["date"].iloc[1:]) + [d["date"].iloc[-1] + pd.Timedelta(days=1)]
    starts["end"] = ends
    return starts.rename(columns={"date": "start"})


def _phases(daily: pd.DataFrame, start, end) -> pd.DataFrame:
    """Rows (start, end, phase, stance) to shade, to be appended to the chart's frame."""
    runs = _phase_frame(daily, start, end)
    runs = runs[runs["policy_stance"].isin(list(STANCE_STYLE))].copy()
    runs["stance"] = runs["policy_stance"].map({k: v[2] for k, v in STANCE_STYLE.items()})
    runs["phase"] = runs["policy_phase"].str.replace("_", " ")
    return runs[["start", "end", "phase", "stance"]]


def _phase_layer(data):
    labels = [v[2] for v in STANCE_STYLE.values()]
    colors = [v[0] for v in STANCE_STYLE.values()]
    return (
        alt.Chart(data)
        .transform_filter("isValid(datum.start)")
        .mark_rect(opacity=0.14)
        .encode(
            x="start:T",
            x2="end:T",
            color=alt.Color(
                "stance:N", scale=alt.Scale(domain=labels, range=colors), title="Fed policy stance"
            ),
            tooltip=[
                alt.Tooltip("phase:N", title="policy phase"),
                alt.Tooltip("stance:N"),
                alt.Tooltip("start:T", format="%Y-%m-%d"),
                alt.Tooltip("end:T", title="until", format="%Y-%m-%d"),
            ],
        )
    )


def _stale_note(label: str, last: dt.date | None, through: dt.date, reason: str = "") -> str | None:
    if last is None:
        return f"{label}: no data in serving.duckdb"
    if last < through:
        return f"{label}: last value {last}, {(through - last).days} days before {through}{reason}"
    return None


def _finish(
    chart,
    *,
    slug: str,
    title: str,
    caption: str,
    series: list[str],
    ids: list[str],
    data_through: dt.date,
    notes: list[str],
    frames: dict[str, pd.DataFrame],
    coingecko: bool = False,
) -> Chart:
    """Every chart's title and subtitle (data-through date, stale inputs, credits) and its Chart."""
    chart_credits = credits.short_credit(ids, coingecko=coingecko)
    subtitle = [
        f"Data through {data_through}." + (" Stale: " + "; ".join(notes) + "." if notes else ""),
        *chart_credits,
    ]
    final = (
        chart.properties(title=alt.TitleParams(title, subtitle=subtitle, anchor="start", subtitleFontSize=10))
        .configure_axis(labelFontSize=11, titleFontSize=11)
        .configure_legend(orient="top", labelFontSize=11, titleFontSize=11, labelLimit=400)
        .configure_view(stroke=None)
    )
    return Chart(
        slug=slug,
        title=title,
        caption=caption,
        series=series,
        data_through=data_through,
        stale_notes=notes,
        credits=chart_credits,
        chart=final,
        frames=frames,
    )


def _lines(data, x: str, columns: dict[str, tuple[str, str]], y_title: str, *, log=False, step=False):
    """Lines of several columns of one wide frame, coloured by label, in one layer."""
    labels = [label for label, _ in columns.values()]
    colors = [color for _, color in columns.values()]
    base = alt.Chart(data).transform_fold(list(columns), as_=["column", "value"])
    mapping = " : ".join(f"datum.column === '{c}' ? '{label}'" for c, (label, _) in columns.items()) + " : ''"
    line = (
        base.transform_calculate(series=mapping)
        .mark_line(strokeWidth=1.4, interpolate="step-after" if step else "linear")
        .encode(
            x=alt.X(f"{x}:T", title=None),
            y=alt.Y("value:Q", title=y_title, scale=alt.Scale(type="log") if log else alt.Scale(zero=False)),
            color=alt.Color("series:N", scale=alt.Scale(domain=labels, range=colors), title=None),
        )
    )
    return line


# --- 1. net liquidity (lagged) vs crypto ---------------------------------------------------------


def net_liquidity_vs_crypto(serving: Serving) -> Chart:
    d, c = serving.daily, serving.crypto
    lag = serving.lag_days
    crypto_through = c["date"].max().date()
    crypto = c.loc[
        c["btc_market_cap_usd"].notna(), ["date", "btc_market_cap_usd", "total_market_cap_usd"]
    ].copy()
    crypto["btc_bn"] = crypto.pop("btc_market_cap_usd") / 1e9
    crypto["total_bn"] = crypto.pop("total_market_cap_usd") / 1e9
    nl = d.loc[d["net_liquidity_known_bn"].notna(), ["date", "net_liquidity_known_bn"]].copy()
    # A crypto day D is the 00:00 UTC snapshot, the evening of D-1 in New York (after every release
    # of D-1, before any of D): crypto_vs_liquidity pairs it with net liquidity as known at the
    # end of New York day D-1-lag. So a value known at the end of day y is plotted at y + lag + 1.
    nl["date"] = nl["date"] + pd.Timedelta(days=lag + 1)
    start = crypto["date"].min()
    nl = nl[nl["date"] >= start].rename(columns={"net_liquidity_known_bn": "nl_shifted_bn"})
    nl = _changes_only(nl, ["nl_shifted_bn"])
    frame = crypto.merge(nl, on="date", how="outer").sort_values("date")
    phases = _phases(d, start, nl["date"].max())
    data = _inline(pd.concat([frame, phases], ignore_index=True))
    left = _lines(
        data,
        "date",
        {"btc_bn": ("BTC market cap (left)", ORANGE), "total_bn": ("Total crypto market cap (left)", BLUE)},
        "Crypto market cap (USD bn, log scale)",
        log=True,
    )
    right = (
        alt.Chart(data)
        .mark_line(color=BLACK, strokeWidth=1.8, interpolate="step-after")
        .transform_filter("isValid(datum.nl_shifted_bn)")
        .encode(
            x="date:T",
            y=alt.Y(
                "nl_shifted_bn:Q",
                title=f"Net liquidity known {lag} days earlier (USD bn, log)",
                scale=alt.Scale(type="log"),
                axis=alt.Axis(orient="right"),
            ),
        )
    )
    selectors, rule = _hover_layers(
        data,
        "date",
        [
            ("btc_bn", "BTC market cap, USD bn", ",.1f"),
            ("total_bn", "total market cap, USD bn", ",.1f"),
            ("nl_shifted_bn", f"net liquidity {lag} d earlier, USD bn", ",.1f"),
        ],
    )
    through_rule = _ref_rule(data, x_day=crypto_through, label=f"crypto data through {crypto_through}")
    chart = (
        alt.layer(left, right, _phase_layer(data), through_rule, rule, selectors)
        .resolve_scale(y="independent", color="independent")
        .properties(width=WIDTH, height=HEIGHT)
    )
    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "on_rrp")]
    btc_last = crypto["date"].max().date() if len(crypto) else None
    total = c.loc[c["total_market_cap_usd"].notna(), "date"]
    notes = [
        n
        for n in (
            _stale_note("BTC market cap", btc_last, crypto_through),
            _stale_note(
                "Total crypto market cap", total.max().date() if len(total) else None, crypto_through
            ),
        )
        if n
    ]
    return _finish(
        chart,
        slug="net_liquidity_vs_crypto",
        title=f"Net liquidity, shifted {lag} days forward, vs BTC and total crypto market cap (log scales)",
        caption=(
            f"Net liquidity ({ids[0]} {MINUS} {ids[1]} {MINUS} {ids[2]}, USD bn) as it was known at the end of each New York "
            f"day, moved {lag} days to the right (plus the one day between a New York evening and the next 00:00 UTC crypto "
            "snapshot), i.e. as crypto_vs_liquidity.net_liquidity_lagged_bn pairs it; right of the dashed line it is already "
            "known today. BTC and total crypto market cap (CoinGecko) on a log scale. Shading: Fed policy stance at its "
            "actual dates, not shifted (seed fed_policy_events)."
        ),
        series=[*ids, "CoinGecko bitcoin", "CoinGecko global market cap"],
        ids=ids,
        data_through=crypto_through,
        notes=notes,
        frames={"crypto": crypto, "net_liquidity_shifted": nl},
        coingecko=True,
    )


# --- 2. reserve ratios with threshold bands ------------------------------------------------------


def reserve_ratios(serving: Serving, t: Thresholds) -> Chart:
    d = serving.daily
    through = serving.data_through
    bank = _changes_only(
        d.loc[d["reserves_to_bank_assets_pct"].notna(), ["date", "reserves_to_bank_assets_pct"]],
        ["reserves_to_bank_assets_pct"],
    )
    gdp = _changes_only(
        d.loc[d["reserves_to_gdp_pct"].notna(), ["date", "reserves_to_gdp_pct"]], ["reserves_to_gdp_pct"]
    )
    ymax = max(float(bank["reserves_to_bank_assets_pct"].max()) * 1.08, t.reserve_abundant_pct * 1.3)

    def panel(frame, column, label, color, bands, y_title):
        data = _inline(frame)
        line = (
            alt.Chart(data)
            .mark_line(color=color, strokeWidth=1.5, interpolate="step-after")
            .encode(x=alt.X("date:T", title=None), y=alt.Y(f"{column}:Q", title=y_title))
        )
        selectors, rule = _hover_layers(data, "date", [(column, label, ".2f")], name=f"hover_{column}")
        shades = [_ref_band(data, lo, hi, color, label) for lo, hi, label, color in bands]
        return alt.layer(line, *shades, rule, selectors).properties(width=WIDTH, height=230)

    top = panel(
        bank,
        "reserves_to_bank_assets_pct",
        "reserves / bank assets, %",
        BLUE,
        [
            (t.reserve_abundant_pct, ymax, f"abundant (>= {t.reserve_abundant_pct:g}%)", GREEN),
            (
                t.reserve_scarce_pct,
                t.reserve_abundant_pct,
                f"ample ({t.reserve_scarce_pct:g}-{t.reserve_abundant_pct:g}%)",
                YELLOW,
            ),
            (0, t.reserve_scarce_pct, f"scarce (< {t.reserve_scarce_pct:g}%)", VERMILION),
        ],
        "Reserves / commercial-bank assets (%)",
    )
    bottom = panel(
        gdp,
        "reserves_to_gdp_pct",
        "reserves / GDP, %",
        PURPLE,
        [
            (
                0,
                t.reserves_gdp_threshold_pct,
                f"below the {t.reserves_gdp_threshold_pct:g}% signal threshold",
                SKY,
            )
        ],
        "Reserves / nominal GDP (%)",
    )
    chart = alt.vconcat(top, bottom).resolve_scale(color="independent")

    used_bank = sorted(s for s in d["bank_assets_source"].dropna().unique())
    ids = [credits.series_id("reserves"), *used_bank, credits.series_id("gdp")]
    notes = []
    last_bank = last_valid(d, "reserves_to_bank_assets_pct")
    since = stale_since(d, "bank_assets")
    n = _stale_note(
        "Reserves / bank assets",
        last_bank[0] if last_bank else None,
        through,
        f" (bank assets {', '.join(used_bank)} stale since {since})" if since else "",
    )
    if n:
        notes.append(n)
    last_gdp = last_valid(d, "reserves_to_gdp_pct")
    n = _stale_note("Reserves / GDP", last_gdp[0] if last_gdp else None, through)
    if n:
        notes.append(n)
    data_through = max(x[0] for x in (last_bank, last_gdp) if x)
    return _finish(
        chart,
        slug="reserve_ratios",
        title="Reserve adequacy: reserves / bank assets and reserves / GDP against their thresholds",
        caption=(
            f"Reserves {ids[0]} (week average) as a share of commercial-bank total assets ({' or '.join(used_bank)}, "
            f"H.8; the fresher of the two), with the reserve-regime bands, and of nominal GDP ({ids[-1]}, SAAR, latest "
            "quarter published) with its signal threshold; percent. Bands from the liquidity_thresholds mart "
            "(dbt vars reserve_abundant_pct, reserve_scarce_pct, reserves_gdp_threshold_pct)."
        ),
        series=ids,
        ids=ids,
        data_through=data_through,
        notes=notes,
        frames={"bank": bank, "gdp": gdp},
    )


# --- 3. money-market spreads ---------------------------------------------------------------------


def funding_spreads(serving: Serving, t: Thresholds) -> Chart:
    d = serving.daily
    through = serving.data_through
    cols = {
        "sofr_effr_spread_bp": (f"SOFR {MINUS} EFFR (bp)", VERMILION),
        "sofr_iorb_spread_bp": (f"SOFR {MINUS} IORB (bp)", BLUE),
    }
    frame = d.loc[d["sofr_pct"].notna(), ["date", *cols]]
    frame = _changes_only(frame, list(cols))
    data = _inline(frame)
    lines = _lines(data, "date", cols, "Spread (basis points)", step=True)
    layers = [lines, _ref_rule(data, y=0.0, color=BLACK, dash=None, label="zero")]
    if t.sofr_iorb_threshold_bp != 0:
        layers.append(
            _ref_rule(
                data,
                y=t.sofr_iorb_threshold_bp,
                color=BLUE,
                label=f"SOFR-IORB signal threshold {t.sofr_iorb_threshold_bp:g} bp",
            )
        )
    selectors, rule = _hover_layers(data, "date", [(c, label, "+.1f") for c, (label, _) in cols.items()])
    chart = alt.layer(*layers, rule, selectors).properties(width=WIDTH, height=HEIGHT)
    ids = [credits.series_id(k) for k in ("sofr", "iorb", "effr")]
    notes, lasts = [], {}
    for col, (label, _) in cols.items():
        last = last_valid(d, col)
        lasts[col] = last[0] if last else None
        n = _stale_note(label.replace(" (bp)", ""), lasts[col], through)
        if n:
            notes.append(n)
    iorb_start = d.loc[d["iorb_pct"].notna(), "date"].min().date()
    return _finish(
        chart,
        slug="funding_spreads",
        title=f"Money-market spreads: SOFR {MINUS} IORB and SOFR {MINUS} EFFR (basis points)",
        caption=(
            f"{ids[0]} {MINUS} {ids[1]} and {ids[0]} {MINUS} {ids[2]}, (rate difference) x 100, basis points, daily "
            f"(liquidity_daily, carried over weekends and holidays; IORB exists from {iorb_start}). Positive SOFR {MINUS} "
            f"IORB: repo above the rate on reserves (reserves getting tight); persistently positive SOFR {MINUS} EFFR: "
            "secured cash dearer than unsecured. Every spike is on the chart: zoom in with the wheel."
        ),
        series=ids,
        ids=ids,
        data_through=max(v for v in lasts.values() if v),
        notes=notes,
        frames={"spreads": frame},
    )


# --- 4. ON RRP and TGA ---------------------------------------------------------------------------


def on_rrp_and_tga(serving: Serving, t: Thresholds) -> Chart:
    d = serving.daily
    through = serving.data_through
    start = pd.Timestamp(t.on_rrp_zero_before)
    cols = {
        "on_rrp_bn": ("ON RRP, Treasury collateral (daily)", GREEN),
        "tga_bn": ("Treasury General Account (week average)", PURPLE),
    }
    frame = _changes_only(d.loc[d["date"] >= start, ["date", *cols]], list(cols))
    data = _inline(frame)
    lines = _lines(data, "date", cols, "USD billions", step=True)
    buffer = _ref_rule(
        data,
        y=t.on_rrp_buffer_bn,
        color=GREEN,
        dash=(5, 3),
        label=f"ON RRP buffer {t.on_rrp_buffer_bn:g} bn (liquidity_thresholds)",
    )
    selectors, rule = _hover_layers(data, "date", [(c, label, ",.1f") for c, (label, _) in cols.items()])
    chart = alt.layer(lines, buffer, rule, selectors).properties(width=WIDTH, height=HEIGHT)
    ids = [credits.series_id(k) for k in ("on_rrp", "tga")]
    notes, lasts = [], []
    for col, label in (("on_rrp_bn", "ON RRP"), ("tga_bn", "TGA")):
        last = last_valid(d, col)
        lasts.append(last[0] if last else None)
        n = _stale_note(label, lasts[-1], through)
        if n:
            notes.append(n)
    return _finish(
        chart,
        slug="on_rrp_tga",
        title="ON RRP draining toward zero, and the Treasury General Account (USD bn)",
        caption=(
            f"{ids[0]} (overnight reverse repo, Treasury collateral, daily) and {ids[1]} (TGA, week average ending "
            f"Wednesday), USD billions, liquidity_daily, from {start.date()} (daily ON RRP operations began). Both are "
            "subtracted from Fed total assets in net liquidity. Dashed: the ON RRP buffer (liquidity_thresholds)."
        ),
        series=ids,
        ids=ids,
        data_through=max(v for v in lasts if v),
        notes=notes,
        frames={"on_rrp_tga": frame},
    )


# --- 5. daily vs weekly net liquidity, and the TGA's daily path ----------------------------------

DAILY_WINDOW_DAYS = 365  # the daily path is readable over a year; the weekly chart above has the history


def daily_net_liquidity(serving: Serving) -> Chart:
    d = serving.daily
    through = serving.data_through
    start = pd.Timestamp(through) - pd.Timedelta(days=DAILY_WINDOW_DAYS)
    columns = ["net_liquidity_bn", "net_liquidity_daily_bn", "tga_bn", "tga_daily_bn"]
    frame = d.loc[d["date"] >= start, ["date", *columns]]
    data = _inline(frame)
    top_cols = {
        "net_liquidity_bn": ("Net liquidity, weekly TGA (WALCL - WTREGEN - ON RRP)", BLUE),
        "net_liquidity_daily_bn": ("Net liquidity, daily TGA (WALCL - DTS close - ON RRP)", ORANGE),
    }
    bottom_cols = {
        "tga_bn": ("TGA, week average ending Wednesday (WTREGEN)", PURPLE),
        "tga_daily_bn": ("TGA, closing balance of the day (Daily Treasury Statement)", VERMILION),
    }
    panels = []
    for cols, title in ((top_cols, "Net liquidity, USD bn"), (bottom_cols, "TGA, USD bn")):
        fields = [(c, label, ",.1f") for c, (label, _) in cols.items()]
        selectors, rule = _hover_layers(data, "date", fields, name=f"hover_{next(iter(cols))}")
        panels.append(
            alt.layer(_lines(data, "date", cols, title, step=True), rule, selectors).properties(
                width=WIDTH, height=220
            )
        )
    chart = alt.vconcat(*panels).resolve_scale(color="independent")
    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "tga_daily", "on_rrp")]
    notes, lasts = [], []
    for col, label in (
        ("tga_daily_bn", "TGA daily close"),
        ("net_liquidity_daily_bn", "daily net liquidity"),
    ):
        last = last_valid(d, col)
        lasts.append(last[0] if last else None)
        n = _stale_note(label, lasts[-1], through, " (NULL past 4 days, never the weekly value)")
        if n:
            notes.append(n)
    return _finish(
        chart,
        slug="daily_net_liquidity",
        title="Net liquidity with the daily TGA vs the weekly TGA, and the TGA's daily path (USD bn)",
        caption=(
            f"Between H.4.1 releases the TGA is the largest moving part of net liquidity. {ids[0]} (Wednesday level), "
            f"{ids[1]} (TGA week average), {ids[2]} (TGA closing balance, Daily Treasury Statement Table I), {ids[3]} "
            f"(ON RRP), liquidity_daily, last {DAILY_WINDOW_DAYS} days (observation dates; the DTS for day d is "
            "published the next business day). Weekends and holidays carry the last close."
        ),
        series=ids,
        ids=ids,
        data_through=max((v for v in lasts if v), default=through),
        notes=notes,
        frames={"daily": frame},
    )


# --- 6. lag scan ---------------------------------------------------------------------------------

ASSET_LABELS = {"btc": "BTC market cap", "eth": "ETH market cap", "total": "Total crypto market cap"}
KIND_LABELS = {"levels": "levels", "changes": "7-day log changes"}


def _period_order(scan: pd.DataFrame) -> list[str]:
    first = scan.groupby("period")["period_start"].min()
    return sorted(first.index, key=lambda p: (pd.notna(first[p]), first[p] if pd.notna(first[p]) else 0, p))


def lag_scan(serving: Serving) -> Chart:
    scan = serving.lag_scan
    lag = serving.lag_days
    wide = scan[scan["coin_id"].isna()]
    rows = []
    for kind in KIND_LABELS:
        part = wide[["asset", "period", "lead_days", f"corr_{kind}", f"is_best_{kind}"]].copy()
        part.columns = ["asset", "period", "lead_days", "corr", "is_best"]
        part["kind"] = KIND_LABELS[kind]
        rows.append(part)
    long = pd.concat(rows)
    long["asset"] = long["asset"].map(ASSET_LABELS)
    long["is_best"] = long["is_best"].fillna(False).astype(int)
    periods = _period_order(scan)
    data = _inline(long)
    base = alt.Chart().encode(
        x=alt.X("lead_days:Q", title="Lead of net liquidity (days)"),
        y=alt.Y("corr:Q", title="Pearson correlation", scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("period:N", scale=alt.Scale(domain=periods), title="period"),
        tooltip=[
            alt.Tooltip("asset:N"),
            alt.Tooltip("kind:N"),
            alt.Tooltip("period:N"),
            alt.Tooltip("lead_days:Q", title="lead, days"),
            alt.Tooltip("corr:Q", title="correlation", format=".3f"),
        ],
    )
    hover = alt.selection_point(
        fields=["lead_days"], nearest=True, on="pointerover", clear="pointerout", empty=False
    )
    lead_rule = (
        alt.Chart()
        .transform_aggregate(n="count()")
        .mark_rule(strokeDash=[4, 3], color="#555555")
        .encode(x=alt.datum(lag))
    )
    layers = alt.layer(
        base.mark_line(strokeWidth=1.4),
        base.mark_point(size=40, filled=True).transform_filter(alt.datum.is_best == 1),
        base.mark_point(size=60, opacity=POINTER_OPACITY).add_params(hover),
        base.mark_point(size=50).transform_filter(hover),
        lead_rule,
        data=data,
    ).properties(width=300, height=200)
    chart = layers.facet(
        row=alt.Row("kind:N", title=None, sort=list(KIND_LABELS.values())),
        column=alt.Column("asset:N", title=None, sort=list(ASSET_LABELS.values())),
    ).add_params(alt.selection_interval(bind="scales", encodings=["x"]))
    last_dates = scan.groupby("asset")["last_date"].max()
    through = max(v.date() for v in last_dates.dropna())
    notes = [
        f"{ASSET_LABELS[a]}: pairs end {last_dates[a].date()}"
        for a in ASSET_LABELS
        if pd.notna(last_dates.get(a)) and last_dates[a].date() < through
    ]
    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "on_rrp")]
    periods_text = "; ".join(f"{p}: {_period_text(scan[scan['period'] == p].iloc[0])}" for p in periods)
    return _finish(
        chart,
        slug="lag_scan",
        title="Lag scan: correlation of crypto with net liquidity N days earlier, per period",
        caption=(
            f"liquidity_lag_scan: corr(asset market cap on day t, net liquidity ({ids[0]} {MINUS} {ids[1]} {MINUS} {ids[2]}, "
            f"as known) on t {MINUS} lead), levels (top) and 7-day log changes (bottom), filled dots at the best lead; "
            f"dashed: the configured lead ({lag} days). Periods: {periods_text}. A flat top means the best lead is not "
            "well determined; the intervals are in the table below."
        ),
        series=[*ids, "CoinGecko bitcoin", "CoinGecko ethereum", "CoinGecko global market cap"],
        ids=ids,
        data_through=through,
        notes=notes,
        frames={"scan": long},
        coingecko=True,
    )


def _period_text(row: pd.Series) -> str:
    start = row["period_start"].date().isoformat() if pd.notna(row["period_start"]) else "start of data"
    end = row["period_end"].date().isoformat() if pd.notna(row["period_end"]) else "end of data"
    return f"{start} to {end}"


# --- 7. the best lead over time ------------------------------------------------------------------


def lead_over_time(serving: Serving) -> Chart:
    lead = serving.lead_over_time
    rows = []
    for kind, label in KIND_LABELS.items():
        part = lead[["asset", "window_start", "window_end"]].copy()
        for col in (
            "best_lead",
            "near_lo",
            "near_hi",
            "lead_ci_lo",
            "lead_ci_hi",
            "corr",
            "corr_lo",
            "corr_hi",
            "n",
        ):
            part[col] = np.nan
        part["best_lead"] = lead[f"best_lead_{kind}_days"]
        part["near_lo"], part["near_hi"] = (
            lead[f"near_best_{kind}_min_days"],
            lead[f"near_best_{kind}_max_days"],
        )
        part["lead_ci_lo"], part["lead_ci_hi"] = (
            lead[f"best_lead_{kind}_ci_low_days"],
            lead[f"best_lead_{kind}_ci_high_days"],
        )
        part["corr"] = lead[f"best_corr_{kind}"]
        part["corr_lo"], part["corr_hi"] = lead[f"best_corr_{kind}_ci_low"], lead[f"best_corr_{kind}_ci_high"]
        part["n"] = lead[f"n_obs_{kind}"]
        part["kind"] = label
        rows.append(part)
    long = pd.concat(rows)
    long["asset"] = long["asset"].map(ASSET_LABELS)
    data = _inline(long)
    ci = f"{lead['ci_level'].iloc[0] * 100:.0f}%"
    x = alt.X("window_end:T", title="window end (crypto date)")
    tooltip = [
        alt.Tooltip("asset:N"),
        alt.Tooltip("kind:N"),
        alt.Tooltip("window_start:T", title="window from", format="%Y-%m-%d"),
        alt.Tooltip("window_end:T", title="window to", format="%Y-%m-%d"),
        alt.Tooltip("best_lead:Q", title="best lead, days"),
        alt.Tooltip("near_lo:Q", title="near-best from, days"),
        alt.Tooltip("near_hi:Q", title="near-best to, days"),
        alt.Tooltip("lead_ci_lo:Q", title=f"lead {ci} interval from"),
        alt.Tooltip("lead_ci_hi:Q", title=f"lead {ci} interval to"),
        alt.Tooltip("corr:Q", title="correlation", format=".3f"),
        alt.Tooltip("corr_lo:Q", title=f"correlation {ci} from", format=".3f"),
        alt.Tooltip("corr_hi:Q", title=f"correlation {ci} to", format=".3f"),
        alt.Tooltip("n:Q", title="pairs"),
    ]
    base = alt.Chart().encode(x=x)
    hover = alt.selection_point(
        fields=["window_end"], nearest=True, on="pointerover", clear="pointerout", empty=False
    )
    layered = alt.layer(
        base.mark_area(color=SKY, opacity=0.25).encode(
            y=alt.Y("lead_ci_lo:Q", title="lead of net liquidity (days)"), y2="lead_ci_hi:Q"
        ),
        base.mark_area(color=BLUE, opacity=0.35).encode(y="near_lo:Q", y2="near_hi:Q"),
        base.mark_line(color=BLACK, strokeWidth=1.5, point=alt.OverlayMarkDef(size=12, color=BLACK)).encode(
            y="best_lead:Q"
        ),
        base.mark_point(size=80, opacity=POINTER_OPACITY)
        .encode(y="best_lead:Q", tooltip=tooltip)
        .add_params(hover),
        base.mark_point(size=70, color=VERMILION).encode(y="best_lead:Q").transform_filter(hover),
        data=data,
    ).properties(width=320, height=190)
    chart = layered.facet(
        row=alt.Row("kind:N", title=None, sort=list(KIND_LABELS.values())),
        column=alt.Column("asset:N", title=None, sort=list(ASSET_LABELS.values())),
    ).add_params(alt.selection_interval(bind="scales", encodings=["x"]))
    through = pd.Timestamp(lead["window_end"].max()).date()
    crypto_through = serving.crypto["date"].max().date()
    notes = []
    if (crypto_through - through).days > 0:
        notes.append(
            f"the newest window ends {through}, {(crypto_through - through).days} days before the crypto data "
            f"({crypto_through}): windows step {int(lead['window_days'].iloc[0])}-day spans every 30 days from a fixed anchor"
        )
    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "on_rrp")]
    block, resamples = int(lead["ci_block_days"].iloc[0]), int(lead["ci_resamples"].iloc[0])
    return _finish(
        chart,
        slug="lead_over_time",
        title="Is the lead changing? Best lead of net liquidity over crypto in rolling 730-day windows",
        caption=(
            "liquidity_lead_over_time: for each window (730 days of crypto dates, ends every 30 days) the lead of net "
            f"liquidity ({ids[0]} {MINUS} {ids[1]} {MINUS} {ids[2]}, as known) with the highest correlation (black), the "
            "range of leads within 0.02 of that correlation (dark band: how flat the peak is) and the "
            f"{ci} moving-block bootstrap interval of the best lead (light band; {block}-day blocks, {resamples} "
            "resamples, fixed seed). Hover a window for its correlation and that correlation's interval. The intervals "
            "allow for autocorrelation within blocks; they do not make a levels correlation less spurious, nor correct "
            "for picking the best of 53 leads, and neighbouring windows share 700 of their 730 days."
        ),
        series=[*ids, "CoinGecko bitcoin", "CoinGecko ethereum", "CoinGecko global market cap"],
        ids=ids,
        data_through=through,
        notes=notes,
        frames={"lead": long},
        coingecko=True,
    )


# --- 8. policy-event windows ---------------------------------------------------------------------

EVENT_KIND_LABELS = {
    "fomc_hike": "FOMC hike",
    "fomc_cut": "FOMC cut",
    "qt_start": "QT start",
    "qt_taper": "QT taper",
    "qt_end": "QT end",
    "rmp_start": "reserve-management purchases",
    "repo_intervention": "2019 repo intervention",
    "emergency_2020": "March 2020 emergency",
}


def event_windows(serving: Serving) -> Chart:
    w = serving.event_windows
    cols = {
        "kind_mean_log_return": "mean cum. log return",
        "kind_sd_log_return": "sd across events",
        "kind_mean_net_liquidity_change_bn": "mean net liquidity change, USD bn",
        "kind_sd_net_liquidity_change_bn": "sd net liquidity change, USD bn",
        "kind_mean_reserves_change_bn": "mean reserves change, USD bn",
        "kind_mean_sofr_iorb_change_bp": "mean SOFR-IORB change, bp",
    }
    per_kind = w.groupby(["event_kind", "asset", "rel_day"], as_index=False).first()[
        ["event_kind", "asset", "rel_day", "kind_n_events", *cols]
    ]
    per_kind["kind"] = per_kind["event_kind"].map(EVENT_KIND_LABELS)
    per_kind["lo"] = per_kind["kind_mean_log_return"] - per_kind["kind_sd_log_return"].fillna(0)
    per_kind["hi"] = per_kind["kind_mean_log_return"] + per_kind["kind_sd_log_return"].fillna(0)
    per_kind["nl_lo"] = per_kind["kind_mean_net_liquidity_change_bn"] - per_kind[
        "kind_sd_net_liquidity_change_bn"
    ].fillna(0)
    per_kind["nl_hi"] = per_kind["kind_mean_net_liquidity_change_bn"] + per_kind[
        "kind_sd_net_liquidity_change_bn"
    ].fillna(0)
    btc = per_kind[per_kind["asset"] == "btc"].drop(columns=["event_kind", "asset"])
    data = _inline(btc)
    kinds = [EVENT_KIND_LABELS[k] for k in EVENT_KIND_LABELS if k in set(per_kind["event_kind"])]
    pick = alt.selection_point(
        fields=["kind"], bind="legend", value=[{"kind": "QT end"}] if "QT end" in kinds else None
    )
    color = alt.Color("kind:N", scale=alt.Scale(domain=kinds), title="kind of event (click to pick)")
    x = alt.X(
        "rel_day:Q",
        title="trading days from the event (0 = event day's close)",
        scale=alt.Scale(domain=[-10, 30]),
    )
    tooltip = [
        alt.Tooltip("kind:N"),
        alt.Tooltip("rel_day:Q", title="trading day"),
        alt.Tooltip("kind_n_events:Q", title="events"),
        *[alt.Tooltip(f"{c}:Q", title=t, format=".3f" if "log" in c else ",.1f") for c, t in cols.items()],
    ]

    def panel(y, lo, hi, title):
        base = alt.Chart(data).encode(x=x, color=color)
        return alt.layer(
            base.mark_area(opacity=0.15)
            .encode(y=alt.Y(f"{lo}:Q", title=title), y2=f"{hi}:Q")
            .transform_filter(pick),
            base.mark_line(strokeWidth=1.6).encode(
                y=f"{y}:Q", opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15))
            ),
            base.mark_point(size=40, filled=True).encode(
                y=f"{y}:Q", tooltip=tooltip, opacity=alt.condition(pick, alt.value(0.9), alt.value(0.05))
            ),
            _one_row(data).mark_rule(strokeDash=[4, 3], color="#555555").encode(x=alt.datum(0)),
        ).properties(width=WIDTH, height=210)

    chart = alt.vconcat(
        panel("kind_mean_log_return", "lo", "hi", "BTC cumulative log return since the base").add_params(
            pick, _zoom()
        ),
        panel(
            "kind_mean_net_liquidity_change_bn",
            "nl_lo",
            "nl_hi",
            "net liquidity change since the base, USD bn",
        ),
    )
    through = pd.Timestamp(w["trading_day"].max()).date()
    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "on_rrp", "reserves", "sofr", "iorb")]
    return _finish(
        chart,
        slug="event_windows",
        title="Around Fed policy events: BTC and net liquidity, mean across events of a kind (band: +/- 1 sd)",
        caption=(
            "policy_event_windows: per kind of event (seed policy_events, sources in the event table below), the mean "
            "over its events of BTC's cumulative log return and of the change in net liquidity from the close of the "
            "trading day before the event (day -1) to each of trading days -10..+30 (days with an EFFR fixing), with "
            "+/- one standard deviation across the events (the spread). Values are taken at 00:00 UTC snapshots (a "
            "trading day's close is the next 00:00 UTC, after a 14:00 ET statement); liquidity is as known then. Click a "
            "kind in the legend to pick it; hover a point for the means of reserves and SOFR - IORB too. Few events per "
            "kind, and other news in the same days: a description, not an effect."
        ),
        series=[*ids, "CoinGecko bitcoin"],
        ids=ids,
        data_through=through,
        notes=[],
        frames={"per_kind": per_kind},
        coingecko=True,
    )


SLUGS = (
    "net_liquidity_vs_crypto",
    "reserve_ratios",
    "funding_spreads",
    "on_rrp_tga",
    "daily_net_liquidity",
    "lag_scan",
    "lead_over_time",
    "event_windows",
)  # the page's charts, in page order (all_charts)


def all_charts(serving: Serving, t: Thresholds) -> list[Chart]:
    return [
        net_liquidity_vs_crypto(serving),
        reserve_ratios(serving, t),
        funding_spreads(serving, t),
        on_rrp_and_tga(serving, t),
        daily_net_liquidity(serving),
        lag_scan(serving),
        lead_over_time(serving),
        event_windows(serving),
    ]
