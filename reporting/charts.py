"""The report's charts, drawn with matplotlib's object API on the Agg (PNG, non-interactive) canvas.

matplotlib rather than Vega-Altair: Altair needs the vl-convert binary to write PNGs (a ~100 MB
download, not installable offline here), while matplotlib is already a dependency, renders fully
offline, and is the most mature plotting library in Python. Figures are built with
`matplotlib.figure.Figure` directly (no pyplot), so no global state or GUI backend is involved and
the code is safe inside the Dagster process.

Every chart carries, below the axes: its source series ids, its data-through date, a note for each
stale input, and the credit each provider asks for.
"""

from __future__ import annotations

import datetime as dt
import io
import textwrap
from dataclasses import dataclass, field

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator

from reporting import credits
from reporting.data import Serving, Thresholds, last_valid, stale_since

# Applied with rc_context while a chart is built, so the process-wide defaults stay untouched.
STYLE = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "grid.linewidth": 0.5,
    "axes.unicode_minus": True,
}
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
FIGSIZE = (11.0, 6.2)
FOOTER_FONT = 7.5
FOOTER_WIDTH = 185  # characters per footer line at FIGSIZE width

# How each policy phase (seed fed_policy_events.phase) moved the balance sheet, for shading.
# The seed has no such column; a phase missing here is shaded grey as "unclassified".
PHASE_STANCE = {
    "pre_crisis": "steady",
    "crisis_lending": "expanding",
    "qe1": "expanding",
    "reinvestment": "steady",
    "qe2": "expanding",
    "qe3": "expanding",
    "qe3_taper": "tapering",
    "qt1": "shrinking",
    "qt1_slowdown": "shrinking",
    "reserve_management_bills": "expanding",
    "qe_covid": "expanding",
    "qe_taper": "tapering",
    "qt2": "shrinking",
    "qt2_full_pace": "shrinking",
    "qt2_taper": "shrinking",
    "qt2_slow": "shrinking",
    "runoff_ended": "steady",
    "reserve_management_purchases": "expanding",
}
STANCE_STYLE = {
    "expanding": (GREEN, 0.13, "asset purchases / lending (QE)"),
    "tapering": (YELLOW, 0.25, "purchases tapering"),
    "shrinking": (VERMILION, 0.11, "balance-sheet runoff (QT)"),
    "steady": (None, 0.0, "reinvestment / steady (unshaded)"),
    "unclassified": ("#999999", 0.15, "unclassified phase"),
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
    figure: Figure = field(repr=False)

    @property
    def filename(self) -> str:
        return f"{self.slug}.png"

    def png(self, dpi: int = 120) -> bytes:
        buf = io.BytesIO()
        self.figure.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
        return buf.getvalue()


# --- helpers -------------------------------------------------------------------------------------


def _new_figure(nrows: int = 1, ncols: int = 1, sharex: bool = False, sharey: bool = False, figsize=FIGSIZE):
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
    return fig, axes


def _footer(fig: Figure, title: str, lines: list[str], top_pad: float = 0.55) -> None:
    """Title on top, wrapped footer lines at the bottom, axes in between."""
    wrapped = [w for line in lines for w in textwrap.wrap(line, FOOTER_WIDTH, subsequent_indent="  ")]
    height = fig.get_figheight()
    line_in = FOOTER_FONT * 1.45 / 72
    bottom_in = 0.55 + line_in * len(wrapped)
    fig.suptitle(title, x=0.01, y=1 - 0.12 / height, ha="left", va="top", fontsize=12, fontweight="bold")
    fig.text(
        0.01, 0.12 / height, "\n".join(wrapped), ha="left", va="bottom", fontsize=FOOTER_FONT, color="#333333"
    )
    fig.subplots_adjust(
        left=0.07,
        right=0.93,
        top=1 - top_pad / height,
        bottom=(bottom_in + 0.25) / height,
        hspace=0.35,
        wspace=0.18,
    )


def _finish(
    fig: Figure,
    *,
    slug: str,
    title: str,
    caption: str,
    about: str,
    series: list[str],
    ids: list[str],
    data_through: dt.date,
    notes: list[str],
    coingecko: bool = False,
    top_pad: float = 0.55,
) -> Chart:
    """Every chart's footer (what it shows, data-through date, stale inputs, credits) and its Chart."""
    chart_credits = credits.short_credit(ids, coingecko=coingecko)
    stale = " Stale: " + "; ".join(notes) + "." if notes else ""
    _footer(fig, title, [about, f"Data through {data_through}.{stale}", *chart_credits], top_pad=top_pad)
    return Chart(
        slug=slug,
        title=title,
        caption=caption,
        series=series,
        data_through=data_through,
        stale_notes=notes,
        credits=chart_credits,
        figure=fig,
    )


def _date_axis(ax) -> None:
    locator = AutoDateLocator(minticks=6, maxticks=14)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _thousands(value: float, _pos=None) -> str:
    if value >= 1:
        return f"{value:,.0f}"
    return f"{value:g}"


def _log_axis(ax) -> None:
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))


def _phase_runs(daily: pd.DataFrame) -> list[tuple[pd.Timestamp, pd.Timestamp, str]]:
    """(start, end, phase) runs of liquidity_daily.policy_phase, end exclusive."""
    phase = daily["policy_phase"]
    starts = daily.index[phase.ne(phase.shift())]
    runs = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else None
        end = daily.loc[stop, "date"] if stop is not None else daily["date"].iloc[-1] + pd.Timedelta(days=1)
        runs.append((daily.loc[start, "date"], end, phase.loc[start]))
    return runs


def _shade_phases(ax, daily: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> list[Patch]:
    """Shade policy phases between start and end; label each phase; return legend handles."""
    used = {}
    label_y = 0.985
    for run_start, run_end, phase in _phase_runs(daily):
        if run_end <= start or run_start >= end:
            continue
        stance = PHASE_STANCE.get(phase, "unclassified")
        color, alpha, label = STANCE_STYLE[stance]
        left, right = max(run_start, start), min(run_end, end)
        if color:
            ax.axvspan(left, right, color=color, alpha=alpha, lw=0, zorder=0)
        used[stance] = (color, alpha, label)
        if (right - left).days >= 150:
            ax.text(
                left + (right - left) / 2,
                label_y,
                phase.replace("_", " "),
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="top",
                rotation=90,
                fontsize=6.5,
                color="#444444",
                clip_on=True,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.6, "pad": 0.8},
            )
    order = ["expanding", "tapering", "shrinking", "steady", "unclassified"]
    return [
        Patch(
            facecolor=used[k][0] or "white",
            alpha=max(used[k][1], 0.25) if used[k][0] else 1.0,
            edgecolor="#999999" if not used[k][0] else "none",
            label=used[k][2],
        )
        for k in order
        if k in used
    ]


def _label_last(ax, frame: pd.DataFrame, column: str, color: str) -> None:
    """The last non-NULL value of `column`, written beside its line's end."""
    last = last_valid(frame, column)
    if last:
        ax.annotate(
            f"{last[1]:,.0f}" if last[1] >= 100 else f"{last[1]:.1f}",
            xy=(pd.Timestamp(last[0]), last[1]),
            xytext=(4, 0),
            textcoords="offset points",
            fontsize=7.5,
            color=color,
            va="center",
        )


def _stale_note(label: str, last: dt.date | None, through: dt.date, reason: str = "") -> str | None:
    if last is None:
        return f"{label}: no data in serving.duckdb"
    if last < through:
        return f"{label}: last value {last}, {(through - last).days} days before {through}{reason}"
    return None


# --- 1. net liquidity (lagged) vs crypto ---------------------------------------------------------


def net_liquidity_vs_crypto(serving: Serving, figsize=FIGSIZE) -> Chart:
    d, c = serving.daily, serving.crypto
    lag = serving.lag_days
    crypto_through = c["date"].max().date()
    btc = c.loc[c["btc_market_cap_usd"].notna(), ["date", "btc_market_cap_usd"]]
    total = c.loc[c["total_market_cap_usd"].notna(), ["date", "total_market_cap_usd"]]
    nl = d.loc[d["net_liquidity_known_bn"].notna(), ["date", "net_liquidity_known_bn"]].copy()
    # A crypto day D is the 00:00 UTC snapshot, the evening of D-1 in New York (after every release
    # of D-1, before any of D): crypto_vs_liquidity pairs it with net liquidity as known at the
    # end of New York day D-1-lag. So a value known at the end of day y is plotted at y + lag + 1.
    nl["shifted"] = nl["date"] + pd.Timedelta(days=lag + 1)
    start = btc["date"].min()
    end = nl["shifted"].max()
    nl = nl[nl["shifted"] >= start]

    fig, axes = _new_figure(figsize=figsize)
    ax = axes[0, 0]
    ax2 = ax.twinx()
    h_btc = ax.plot(
        btc["date"], btc["btc_market_cap_usd"] / 1e9, color=ORANGE, lw=1.1, label="BTC market cap (left)"
    )
    h_tot = ax.plot(
        total["date"],
        total["total_market_cap_usd"] / 1e9,
        color=BLUE,
        lw=1.1,
        label="Total crypto market cap (left)",
    )
    h_nl = ax2.plot(
        nl["shifted"],
        nl["net_liquidity_known_bn"],
        color=BLACK,
        lw=1.6,
        label=f"Net liquidity, shifted {lag} days forward (right)",
    )
    for a in (ax, ax2):
        _log_axis(a)
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    ax.set_xlim(start, end)
    ax.set_ylabel("Crypto market cap (USD bn, log scale)")
    ax2.set_ylabel(f"Net liquidity as known {lag} days earlier (USD bn, log scale)")
    ax.set_xlabel(
        f"Date (crypto: its 00:00 UTC snapshot; net liquidity: as known at 00:00 UTC {lag} days earlier)"
    )
    _date_axis(ax)
    ax.axvline(pd.Timestamp(crypto_through), color="#555555", lw=0.8, ls="--")
    ax.text(
        pd.Timestamp(crypto_through) - pd.Timedelta(days=20),
        0.03,
        f"data through {crypto_through}; the liquidity\nline to the right is already known today",
        transform=ax.get_xaxis_transform(),
        fontsize=7,
        color="#333333",
        ha="right",
        va="bottom",
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5},
    )
    phases = _shade_phases(ax, d, start, end)
    ax.legend(
        handles=h_btc + h_tot + h_nl + phases,
        loc="lower left",
        bbox_to_anchor=(0.0, 1.01),
        ncols=4,
        frameon=False,
        borderaxespad=0.0,
    )

    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "on_rrp")]
    notes = [
        n
        for n in (
            _stale_note("BTC market cap", btc["date"].max().date() if len(btc) else None, crypto_through),
            _stale_note(
                "Total crypto market cap", total["date"].max().date() if len(total) else None, crypto_through
            ),
        )
        if n
    ]
    title = f"Net liquidity, shifted {lag} days forward, vs BTC and total crypto market cap (log scales)"
    series = [*ids, "CoinGecko bitcoin", "CoinGecko global market cap"]
    return _finish(
        fig,
        slug="net_liquidity_vs_crypto",
        title=title,
        caption=(
            f"Net liquidity (Fed total assets minus the Treasury General Account minus ON RRP) as it was known each day, "
            f"moved {lag} days to the right so that today's liquidity lines up with crypto {lag} days from now; "
            "BTC and total crypto market cap on a log scale."
        ),
        about=(
            f"Series: net liquidity = {ids[0]} {MINUS} {ids[1]} {MINUS} {ids[2]} (USD bn, release-aware: as known at the end "
            f"of each New York day, liquidity_daily.net_liquidity_known_bn), plotted {lag} days after the next day's 00:00 UTC "
            "crypto snapshot, i.e. as crypto_vs_liquidity.net_liquidity_lagged_bn pairs it (lead from crypto_vs_liquidity.lag_days); "
            "CoinGecko bitcoin market cap and global total market cap. Shading: Fed policy phases at their actual dates, "
            "not shifted (seed fed_policy_events)."
        ),
        series=series,
        ids=ids,
        data_through=crypto_through,
        notes=notes,
        coingecko=True,
        top_pad=1.0,
    )


# --- 2. reserve ratios with threshold bands ------------------------------------------------------


def reserve_ratios(serving: Serving, t: Thresholds) -> Chart:
    d, adequacy = serving.daily, serving.adequacy
    through = serving.data_through
    fig, axes = _new_figure(2, 1, sharex=True)
    top, bottom = axes[0, 0], axes[1, 0]
    bank = d.loc[d["reserves_to_bank_assets_pct"].notna()]
    gdp = d.loc[d["reserves_to_gdp_pct"].notna()]
    start = min(bank["date"].min(), gdp["date"].min())
    end = d["date"].max()

    ymax = max(float(bank["reserves_to_bank_assets_pct"].max()) * 1.08, t.reserve_abundant_pct * 1.3)
    top.axhspan(
        t.reserve_abundant_pct,
        ymax,
        color=GREEN,
        alpha=0.12,
        lw=0,
        label=f"abundant (>= {t.reserve_abundant_pct:g}%)",
    )
    top.axhspan(
        t.reserve_scarce_pct,
        t.reserve_abundant_pct,
        color=YELLOW,
        alpha=0.25,
        lw=0,
        label=f"ample ({t.reserve_scarce_pct:g}-{t.reserve_abundant_pct:g}%)",
    )
    top.axhspan(
        0,
        t.reserve_scarce_pct,
        color=VERMILION,
        alpha=0.11,
        lw=0,
        label=f"scarce (< {t.reserve_scarce_pct:g}%)",
    )
    top.plot(
        bank["date"],
        bank["reserves_to_bank_assets_pct"],
        color=BLUE,
        lw=1.2,
        label="Reserves / commercial-bank total assets",
    )
    top.set_ylim(0, ymax)
    last_ratio = last_valid(d, "reserves_to_bank_assets_pct")
    if last_ratio and last_ratio[0] < through:
        top.axvspan(
            pd.Timestamp(last_ratio[0]), end, facecolor="none", edgecolor="#888888", hatch="///", lw=0
        )
        top.annotate(
            f"no fresh bank-asset\ndata after {last_ratio[0]}",
            xy=(pd.Timestamp(last_ratio[0]), last_ratio[1]),
            xytext=(12, -42),
            textcoords="offset points",
            fontsize=7.5,
            color=VERMILION,
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1.5},
            arrowprops={"arrowstyle": "->", "color": VERMILION, "lw": 0.8},
        )
    top.set_ylabel("Percent of bank assets (%)")
    top.set_title(
        "Reserves / commercial-bank total assets, with the reserve-regime bands", loc="left", fontsize=10
    )
    top.legend(loc="upper left", ncols=2)

    targets = sorted(set(adequacy["target_reserves_to_gdp_pct"].dropna().astype(float)))
    gdp_max = max(float(gdp["reserves_to_gdp_pct"].max()) * 1.1, t.reserves_gdp_threshold_pct * 1.5)
    bottom.axhspan(
        0,
        t.reserves_gdp_threshold_pct,
        color=VERMILION,
        alpha=0.11,
        lw=0,
        label=f"below the {t.reserves_gdp_threshold_pct:g}% signal threshold",
    )
    bottom.plot(
        gdp["date"], gdp["reserves_to_gdp_pct"], color=PURPLE, lw=1.2, label="Reserves / nominal GDP (SAAR)"
    )
    bottom.axhline(
        t.reserves_gdp_threshold_pct,
        color=VERMILION,
        lw=0.9,
        ls="--",
        label=f"signal threshold {t.reserves_gdp_threshold_pct:g}% (var reserves_gdp_threshold_pct)",
    )
    for target in targets:
        if target != t.reserves_gdp_threshold_pct:
            bottom.axhline(
                target, color=BLACK, lw=0.9, ls=":", label=f"adequacy target {target:g}% (reserve_adequacy)"
            )
    bottom.set_ylim(0, gdp_max)
    bottom.set_ylabel("Percent of GDP (%)")
    bottom.set_xlabel("Date (observation date; weekly reserves, quarterly GDP)")
    bottom.set_title("Reserves / nominal GDP", loc="left", fontsize=10)
    bottom.legend(loc="upper left")
    bottom.set_xlim(start, end)
    _date_axis(bottom)

    used_bank = [s for s in d["bank_assets_source"].dropna().unique()]
    ids = [credits.series_id("reserves"), *sorted(used_bank), credits.series_id("gdp")]
    notes = []
    last_bank = last_valid(d, "reserves_to_bank_assets_pct")
    since = stale_since(d, "bank_assets")
    n = _stale_note(
        "Reserves / bank assets",
        last_bank[0] if last_bank else None,
        through,
        f" (bank assets {', '.join(sorted(used_bank))} stale since {since})" if since else "",
    )
    if n:
        notes.append(n)
    last_gdp = last_valid(d, "reserves_to_gdp_pct")
    n = _stale_note("Reserves / GDP", last_gdp[0] if last_gdp else None, through)
    if n:
        notes.append(n)
    data_through = max(x[0] for x in (last_bank, last_gdp) if x)
    title = "Reserve adequacy: reserves / bank assets and reserves / GDP against their thresholds"
    return _finish(
        fig,
        slug="reserve_ratios",
        title=title,
        caption="How close the banking system is to reserve scarcity: reserve balances as a share of commercial-bank "
        "assets (regime bands) and of nominal GDP (signal threshold).",
        about=(
            f"Series: reserves {ids[0]} (week average) / commercial-bank total assets "
            f"({' or '.join(sorted(used_bank))}, H.8; the fresher of the two) and / nominal GDP ({ids[-1]}, "
            "SAAR, latest quarter published), percent. Bands: dbt vars reserve_abundant_pct, reserve_scarce_pct, "
            "reserves_gdp_threshold_pct (dbt_project.yml)."
        ),
        series=ids,
        ids=ids,
        data_through=data_through,
        notes=notes,
    )


# --- 3. money-market spreads ---------------------------------------------------------------------


def funding_spreads(serving: Serving, t: Thresholds) -> Chart:
    d = serving.daily
    through = serving.data_through
    # SOFR - EFFR first, so the shorter SOFR - IORB line is drawn on top of it
    cols = {
        "sofr_effr_spread_bp": (f"SOFR {MINUS} EFFR", VERMILION),
        "sofr_iorb_spread_bp": (f"SOFR {MINUS} IORB", BLUE),
    }
    iorb_start = d.loc[d["iorb_pct"].notna(), "date"].min().date()
    frame = d.loc[d["sofr_pct"].notna()]
    start, end = frame["date"].min(), d["date"].max()
    values = pd.concat([frame[c] for c in cols]).dropna()
    lo, hi = np.percentile(values, [0.2, 99.8])
    pad = max(5.0, (hi - lo) * 0.15)
    ylim = (min(lo - pad, t.sofr_iorb_threshold_bp - 5), max(hi + pad, t.sofr_iorb_threshold_bp + 5))

    fig, axes = _new_figure()
    ax = axes[0, 0]
    for col, (label, color) in cols.items():
        ax.plot(frame["date"], frame[col], color=color, lw=0.7, label=f"{label} (bp)")
    ax.axhline(0, color=BLACK, lw=1.0, label="zero")
    if t.sofr_iorb_threshold_bp != 0:
        ax.axhline(
            t.sofr_iorb_threshold_bp,
            color=BLUE,
            lw=0.8,
            ls="--",
            label=f"SOFR-IORB signal threshold {t.sofr_iorb_threshold_bp:g} bp",
        )
    ax.set_ylim(*ylim)
    ax.set_xlim(start, end)
    off = []
    for col, (label, color) in cols.items():
        outside = frame.loc[(frame[col] > ylim[1]) | (frame[col] < ylim[0]), ["date", col]]
        if len(outside):
            peak = outside.loc[outside[col].abs().idxmax()]
            off.append(
                f"{label} off scale on {len(outside)} days, extreme {peak[col]:+.0f} bp on {peak['date'].date()}"
            )
            y = ylim[1] if peak[col] > 0 else ylim[0]
            ax.annotate(
                f"{label}: {peak[col]:+.0f} bp\n{peak['date'].date()} (off scale)",
                xy=(peak["date"], y),
                xytext=(8, -28 if y > 0 else 8),
                textcoords="offset points",
                fontsize=7,
                color=color,
                arrowprops={"arrowstyle": "->", "color": color, "lw": 0.8},
            )
    ax.set_ylabel("Spread (basis points)")
    ax.set_xlabel(f"Date (the rates' business day; IORB exists from {iorb_start}, IOER before it)")
    _date_axis(ax)
    ax.legend(loc="lower left", ncols=3)

    ids = [credits.series_id(k) for k in ("sofr", "iorb", "effr")]
    notes = []
    lasts = {}
    for col, (label, _) in cols.items():
        last = last_valid(d, col)
        lasts[col] = last[0] if last else None
        n = _stale_note(label, lasts[col], through)
        if n:
            notes.append(n)
    data_through = max(v for v in lasts.values() if v)
    title = f"Money-market spreads: SOFR {MINUS} IORB and SOFR {MINUS} EFFR (basis points)"
    return _finish(
        fig,
        slug="funding_spreads",
        title=title,
        caption="Secured overnight funding (SOFR) against the interest rate on reserve balances (IORB) and the effective "
        "fed funds rate (EFFR), in basis points, with the zero line.",
        about=(
            f"Series: {ids[0]} {MINUS} {ids[1]} and {ids[0]} {MINUS} {ids[2]}, (rate difference) x 100, basis points, daily "
            f"(liquidity_daily, carried over weekends and holidays). Positive SOFR {MINUS} IORB: repo above the rate on "
            f"reserves (reserves getting tight); persistently positive SOFR {MINUS} EFFR: secured cash dearer than unsecured."
            + (" " + "; ".join(off) + "." if off else "")
        ),
        series=ids,
        ids=ids,
        data_through=data_through,
        notes=notes,
    )


# --- 4. ON RRP and TGA ---------------------------------------------------------------------------


def on_rrp_and_tga(serving: Serving, t: Thresholds) -> Chart:
    d = serving.daily
    through = serving.data_through
    start = pd.Timestamp(t.on_rrp_zero_before)
    frame = d.loc[d["date"] >= start]
    fig, axes = _new_figure()
    ax = axes[0, 0]
    ax.plot(
        frame["date"], frame["on_rrp_bn"], color=GREEN, lw=1.1, label="ON RRP, Treasury collateral (daily)"
    )
    ax.plot(
        frame["date"], frame["tga_bn"], color=PURPLE, lw=1.1, label="Treasury General Account (week average)"
    )
    ax.axhline(
        t.on_rrp_buffer_bn,
        color=GREEN,
        lw=0.8,
        ls="--",
        label=f"ON RRP buffer {t.on_rrp_buffer_bn:g} bn (var on_rrp_buffer_bn)",
    )
    ax.set_ylim(bottom=0)
    ax.set_xlim(start, d["date"].max())
    ax.set_ylabel("USD billions")
    ax.set_xlabel(f"Date (from {start.date()}, when daily ON RRP operations began)")
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    _date_axis(ax)
    ax.legend(loc="upper left")
    for col, color in (("on_rrp_bn", GREEN), ("tga_bn", PURPLE)):
        _label_last(ax, d, col, color)

    ids = [credits.series_id(k) for k in ("on_rrp", "tga")]
    notes, lasts = [], []
    for col, label in (("on_rrp_bn", "ON RRP"), ("tga_bn", "TGA")):
        last = last_valid(d, col)
        lasts.append(last[0] if last else None)
        n = _stale_note(label, last[0] if last else None, through)
        if n:
            notes.append(n)
    data_through = max(v for v in lasts if v)
    title = "ON RRP draining toward zero, and the Treasury General Account (USD bn)"
    return _finish(
        fig,
        slug="on_rrp_tga",
        title=title,
        caption="The two liabilities that drain liquidity from the Fed balance sheet: the ON RRP facility (the buffer "
        "of excess cash) and the Treasury's account at the Fed.",
        about=(
            f"Series: {ids[0]} (overnight reverse repo, Treasury collateral, daily) and {ids[1]} (TGA, week average "
            "ending Wednesday), USD billions, liquidity_daily. Both are subtracted from Fed total assets in net liquidity."
        ),
        series=ids,
        ids=ids,
        data_through=data_through,
        notes=notes,
    )


# --- 5. daily vs weekly net liquidity, and the TGA's daily path ----------------------------------

DAILY_WINDOW_DAYS = 365  # the daily path is readable over a year; the weekly chart above has the history


def daily_net_liquidity(serving: Serving) -> Chart:
    """Net liquidity with the TGA's week average (weekly definition) and with the Daily Treasury
    Statement's close of each day (daily definition), over the last DAILY_WINDOW_DAYS of data; below,
    the two TGA series themselves."""
    d = serving.daily
    through = serving.data_through
    start = pd.Timestamp(through) - pd.Timedelta(days=DAILY_WINDOW_DAYS)
    frame = d.loc[d["date"] >= start]
    fig, axes = _new_figure(2, 1, sharex=True, figsize=(FIGSIZE[0], FIGSIZE[1] + 1.0))
    top, bottom = axes[0, 0], axes[1, 0]
    lines = (
        (top, "net_liquidity_bn", BLUE, "Net liquidity, weekly TGA (WALCL - WTREGEN - ON RRP)"),
        (top, "net_liquidity_daily_bn", ORANGE, "Net liquidity, daily TGA (WALCL - DTS close - ON RRP)"),
        (bottom, "tga_bn", PURPLE, "TGA, week average ending Wednesday (WTREGEN)"),
        (bottom, "tga_daily_bn", VERMILION, "TGA, closing balance of the day (Daily Treasury Statement)"),
    )
    for ax, col, color, label in lines:
        ax.plot(frame["date"], frame[col], color=color, lw=1.1, label=label, drawstyle="steps-post")
        _label_last(ax, d, col, color)
    for ax, label in ((top, "Net liquidity, USD bn"), (bottom, "TGA, USD bn")):
        ax.set_ylabel(label)
        ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax.legend(loc="upper left")
    bottom.set_xlim(start, d["date"].max())
    bottom.set_xlabel(f"Date (last {DAILY_WINDOW_DAYS} days of data)")
    _date_axis(bottom)

    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "tga_daily", "on_rrp")]
    notes, lasts = [], []
    for col, label in (
        ("tga_daily_bn", "TGA daily close"),
        ("net_liquidity_daily_bn", "daily net liquidity"),
    ):
        last = last_valid(d, col)
        lasts.append(last[0] if last else None)
        n = _stale_note(
            label, last[0] if last else None, through, " (NULL past 4 days, never the weekly value)"
        )
        if n:
            notes.append(n)
    data_through = max((v for v in lasts if v), default=through)
    return _finish(
        fig,
        slug="daily_net_liquidity",
        title="Net liquidity with the daily TGA vs the weekly TGA, and the TGA's daily path (USD bn)",
        caption="Between H.4.1 releases the TGA is the largest moving part of net liquidity: the daily "
        "definition follows the Treasury's closing balance of each business day instead of the week average.",
        about=(
            f"Series: {ids[0]} (Wednesday level), {ids[1]} (TGA week average), {ids[2]} (TGA closing balance, "
            f"Daily Treasury Statement Table I), {ids[3]} (ON RRP), liquidity_daily (observation dates; the DTS "
            "for day d is published the next business day). Weekends and holidays carry the last close."
        ),
        series=ids,
        ids=ids,
        data_through=data_through,
        notes=notes,
    )


# --- 6. lag scan ---------------------------------------------------------------------------------

ASSET_LABELS = {"btc": "BTC market cap", "eth": "ETH market cap", "total": "Total crypto market cap"}
PERIOD_COLORS = [BLACK, ORANGE, BLUE, GREEN, PURPLE, VERMILION, SKY]


def lag_scan(serving: Serving) -> Chart:
    scan = serving.lag_scan
    lag = serving.lag_days
    assets = [a for a in ASSET_LABELS if a in set(scan["asset"])]
    # open-start periods ('full') first, then by start date
    first = scan.groupby("period")["period_start"].min()
    periods = sorted(
        first.index, key=lambda p: (pd.notna(first[p]), first[p] if pd.notna(first[p]) else 0, p)
    )
    fig, axes = _new_figure(2, len(assets), sharex=True, sharey=True, figsize=(11.0, 7.0))
    handles = {}
    for col, asset in enumerate(assets):
        for row, (kind, label) in enumerate((("levels", "levels"), ("changes", "7-day log changes"))):
            ax = axes[row, col]
            for i, period in enumerate(periods):
                part = scan[(scan["asset"] == asset) & (scan["period"] == period)]
                if part[f"corr_{kind}"].notna().sum() == 0:
                    continue
                color = PERIOD_COLORS[i % len(PERIOD_COLORS)]
                (h,) = ax.plot(
                    part["lead_days"], part[f"corr_{kind}"], color=color, lw=1.2, label=f"period {period}"
                )
                handles[period] = h
                best = part[part[f"is_best_{kind}"].fillna(False).astype(bool)]
                ax.plot(best["lead_days"], best[f"corr_{kind}"], "o", color=color, ms=4)
            ax.axhline(0, color="#555555", lw=0.7)
            ax.axvline(lag, color="#555555", lw=0.8, ls="--")
            ax.set_ylim(-1.05, 1.05)
            ax.set_title(f"{ASSET_LABELS[asset]}: {label}", fontsize=9, loc="left")
            if col == 0:
                ax.set_ylabel("Pearson correlation (-1 to 1)")
            if row == 1:
                ax.set_xlabel("Lead of net liquidity (days)")
    handles["best"] = axes[0, 0].plot(
        [], [], "o", color="#555555", ms=4, label="best lead (highest correlation)"
    )[0]
    handles["lag"] = axes[0, 0].plot(
        [], [], color="#555555", lw=0.8, ls="--", label=f"configured lead ({lag} days)"
    )[0]
    fig.legend(
        handles=list(handles.values()),
        loc="upper right",
        ncols=len(handles),
        bbox_to_anchor=(0.99, 0.955),
        frameon=False,
    )

    last_dates = scan.groupby("asset")["last_date"].max()
    through = max(d.date() for d in last_dates.dropna())
    notes = [
        f"{ASSET_LABELS[a]}: pairs end {last_dates[a].date()}"
        for a in assets
        if pd.notna(last_dates.get(a)) and last_dates[a].date() < through
    ]
    periods_text = "; ".join(f"{p}: {_period_text(scan[scan['period'] == p].iloc[0])}" for p in periods)
    ids = [credits.series_id(k) for k in ("fed_total_assets", "tga", "on_rrp")]
    title = "Lag scan: correlation of crypto with net liquidity N days earlier, per period"
    return _finish(
        fig,
        slug="lag_scan",
        title=title,
        caption="Which lead of net liquidity fits crypto best, and whether it is stable: the correlation at each lead, "
        "for each period, on levels (top) and on 7-day log changes (bottom).",
        about=(
            f"Series: liquidity_lag_scan: corr(asset market cap on day t, net liquidity ({ids[0]} {MINUS} {ids[1]} {MINUS} {ids[2]}, "
            f"as known) on t - lead), levels and 7-day log changes. Periods: {periods_text}. A flat top means the best lead "
            "is not well determined."
        ),
        series=[*ids, "CoinGecko bitcoin", "CoinGecko ethereum", "CoinGecko global market cap"],
        ids=ids,
        data_through=through,
        notes=notes,
        coingecko=True,
        top_pad=0.75,
    )


def _period_text(row: pd.Series) -> str:
    start = row["period_start"].date().isoformat() if pd.notna(row["period_start"]) else "start of data"
    end = row["period_end"].date().isoformat() if pd.notna(row["period_end"]) else "end of data"
    return f"{start} to {end}"


def all_charts(serving: Serving, t: Thresholds) -> list[Chart]:
    with matplotlib.rc_context(STYLE):
        return [
            net_liquidity_vs_crypto(serving),
            reserve_ratios(serving, t),
            funding_spreads(serving, t),
            on_rrp_and_tga(serving, t),
            daily_net_liquidity(serving),
            lag_scan(serving),
        ]
