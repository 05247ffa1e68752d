"""index.html: one self-contained page (inline CSS, inline scripts, no file beside it, no network).

The charts are Vega-Lite specs (reporting.charts) rendered in the browser by the Vega, Vega-Lite
and Vega-Embed bundle that vl-convert ships (`vl_convert.javascript_bundle()`), inlined once; the
specs sit in one JSON block. Rendered with Jinja2 with autoescaping on, so values from the data can
never inject markup; the two inline blocks are escaped so no `</script` can end them early.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os

import jinja2

from reporting.content import _fmt


@functools.lru_cache(maxsize=1)
def vega_bundle() -> str:
    """Vega + Vega-Lite + Vega-Embed as one script, offline (vl-convert carries the libraries).

    Bundling takes about 2 s, so the result is kept in $LIQUIDITY_DATA_DIR/.cache/, named by the
    vl-convert version (a new version bundles anew)."""
    import vl_convert

    from ingest import settings

    version = importlib.metadata.version("vl-convert-python")
    cached = settings.data_dir() / ".cache" / f"vega-bundle-{version}.js"
    if cached.is_file():
        return cached.read_text(encoding="utf-8")
    text = _script_safe(vl_convert.javascript_bundle())
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, cached)
    return text


def _script_safe(text: str) -> str:
    return text.replace("</script", "<\\/script").replace("<!--", "<\\!--")


def specs_json(charts) -> str:
    return _script_safe(json.dumps({c.slug: c.spec() for c in charts}, separators=(",", ":")))


TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="reporting (fed liquidity pipeline)">
<title>Fed liquidity vs crypto: report, data through {{ data_through }}</title>
<style>
  body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; margin: 0 auto;
         max-width: 1180px; padding: 1rem 1.5rem 3rem; color: #1a1a1a; line-height: 1.45; }
  h1 { font-size: 1.5rem; margin-bottom: .2rem; }
  h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
  .meta { color: #555; font-size: .9rem; }
  table { border-collapse: collapse; width: 100%; font-size: .9rem; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #eee; vertical-align: top; }
  th { background: #f5f5f5; }
  tr.group th { background: #fff; border-bottom: 2px solid #ccc; padding-top: .9rem; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  td.date, td.nowrap { white-space: nowrap; }
  .on { color: #fff; background: #c0392b; }
  .off { color: #fff; background: #2e7d32; }
  .na { color: #333; background: #ddd; }
  .badge { display: inline-block; padding: .05rem .45rem; border-radius: .25rem; font-size: .8rem; font-weight: 600; }
  .stale { color: #b35900; }
  .warn { background: #fff4e5; border-left: 4px solid #e69f00; padding: .5rem .8rem; }
  figure { margin: 1.2rem 0 2rem; }
  .vis { min-height: 200px; overflow-x: auto; }
  .vis[data-error] { background: #fdecea; padding: .5rem; }
  figcaption { font-size: .9rem; color: #333; }
  figcaption ul { margin: .3rem 0; padding-left: 1.2rem; }
  nav a { margin-right: 1rem; }
  footer { margin-top: 3rem; font-size: .8rem; color: #555; }
</style>
</head>
<body>
<h1>Fed liquidity vs crypto</h1>
<p class="meta">Data through <strong id="data-through">{{ data_through }}</strong> &middot; generated {{ generated }}
 from <code>{{ serving_path }}</code> (published {{ serving_modified }}) &middot; report only reads that file.</p>
<nav><a href="#latest">Latest values</a><a href="#signals">Today's signals</a><a href="#charts">Charts</a>
<a href="#intervals">Lead intervals</a><a href="#events">Policy events</a><a href="#coins">Coins</a><a href="#freshness">Data freshness</a><a href="#sources">Sources</a></nav>
{% if warnings %}<div class="warn"><strong>Check:</strong><ul>{% for w in warnings %}<li>{{ w }}</li>{% endfor %}</ul></div>{% endif %}

<h2 id="latest">Latest values</h2>
<table id="latest-values">
<thead><tr><th>measure</th><th>value</th><th>unit</th><th>date</th><th>note</th></tr></thead>
<tbody>
{% for v in latest %}{% if loop.first or v.group != loop.previtem.group %}<tr class="group"><th colspan="5">{{ v.group }}</th></tr>
{% endif %}<tr data-key="{{ v.table }}.{{ v.key }}"{% if v.stale %} class="stale"{% endif %}>
<td>{{ v.label }}</td><td class="num value">{{ v.display }}</td><td>{{ v.unit }}</td>
<td class="date">{{ v.date }}</td><td>{{ v.note }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="meta">Amounts in USD billions, rates in percent, spreads in basis points. liquidity_daily values use the
observation-date view (a weekly value holds from its own date until the next); the release-aware line is what was
public at the end of that day.</p>

<h2 id="signals">Today's signals ({{ signals_date }})</h2>
<p>{{ signals_summary }}</p>
<table id="signals-table">
<thead><tr><th>signal</th><th>state</th><th>reading (as known that day)</th><th>what it means today</th></tr></thead>
<tbody>
{% for s in signals %}<tr data-flag="{{ s.flag }}">
<td>{{ s.name }}<br><code>{{ s.flag }}</code></td>
<td><span class="badge {{ {'on': 'on', 'off': 'off'}.get(s.state, 'na') }}">{{ s.state }}</span></td>
<td>{{ s.reading }}</td><td>{{ s.meaning }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="meta">Flags from <code>liquidity_signals</code> on values as known at the end of the day; thresholds are
dbt vars in <code>dbt_project/dbt_project.yml</code>. A flag that cannot be evaluated (stale or missing input) is
left out of the stress score.</p>

<h2 id="charts">Charts</h2>
<p class="meta">Every chart is interactive: hover for values, drag to pan and use the mouse wheel to zoom the time
axis, double-click to reset. The page needs no network: the chart library is inside it.</p>
{% for c in charts %}<figure id="chart-{{ c.slug }}">
<div class="vis" id="vis-{{ c.slug }}" role="img" aria-label="{{ c.title }}"></div>
<figcaption><strong>{{ c.title }}.</strong> {{ c.caption }}
<ul>
<li>Series: {{ c.series | join(', ') }}</li>
<li>Data through {{ c.data_through }}</li>
{% for n in c.stale_notes %}<li class="stale">Stale input: {{ n }}</li>{% endfor %}
{% for cr in c.credits %}<li>{{ cr }}</li>{% endfor %}
</ul></figcaption>
</figure>
{% endfor %}

<h2 id="intervals">Best lead per period, with bootstrap confidence intervals</h2>
<table id="lead-intervals-table">
<thead><tr><th>asset</th><th>period</th><th>kind</th><th>best lead (days)</th><th>lead interval (days)</th>
<th>correlation</th><th>correlation interval</th><th>pairs</th></tr></thead>
<tbody>
{% for r in lead_intervals %}<tr data-key="{{ r.key }}">
<td><code>{{ r.asset }}</code></td><td>{{ r.period }}</td><td>{{ r.kind }}</td>
<td class="num">{{ '-' if r.lead_days is none else r.lead_days }}</td>
<td class="num">{{ '-' if r.lead_low_days is none else '%d to %d' | format(r.lead_low_days, r.lead_high_days) }}</td>
<td class="num">{{ '-' if r.corr is none else '%.3f' | format(r.corr) }}</td>
<td class="num">{{ '-' if r.corr_low is none else '%.3f to %.3f' | format(r.corr_low, r.corr_high) }}</td>
<td class="num">{{ '-' if r.n_obs is none else r.n_obs }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="meta">From <code>liquidity_lag_scan</code>: per period the lead of net liquidity whose correlation with the
market cap is highest, and the moving-block bootstrap intervals (<code>ci_level</code> coverage; blocks of 60 crypto
days resampled 400 times with a fixed seed, every lead recomputed on each resample). The lead interval is the range of
best leads the resamples pick: a wide one means the data do not pin the lead down. The correlation interval allows for
the autocorrelation of trending levels and overlapping 7-day changes within a block; it is not a test of causality,
does not remove the spuriousness of correlating two trends (read the changes rows) and does not correct for the best
lead having been chosen among 53. The same intervals for rolling windows: the lead-over-time chart above.</p>

<h2 id="events">Policy events: BTC and liquidity around each</h2>
<table id="events-table">
<thead><tr><th>date</th><th>kind</th><th>event</th><th>rate change (bp)</th><th>BTC day 0</th><th>BTC day +5</th>
<th>BTC day +30</th><th>net liquidity +30 (USD bn)</th><th>reserves +30 (USD bn)</th><th>SOFR &minus; IORB +30 (bp)</th>
<th>source</th></tr></thead>
<tbody>
{% for e in events %}<tr data-key="{{ e.key }}">
<td class="date">{{ e.event_date }}</td><td>{{ e.kind }}</td><td>{{ e.event }}</td>
<td class="num">{{ '' if e.rate_change_bp is none else '%+d' | format(e.rate_change_bp) }}</td>
{% for v in (e.btc_day0, e.btc_day5, e.btc_day30) %}<td class="num">{{ '-' if v is none else '%+.1f%%' | format(v * 100) }}</td>{% endfor %}
{% for v in (e.net_liquidity_day30_bn, e.reserves_day30_bn, e.sofr_iorb_day30_bp) %}<td class="num">{{ '-' if v is none else '%+.1f' | format(v) }}</td>{% endfor %}
<td>{{ e.source }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="meta">From <code>policy_event_windows</code> (seed <code>policy_events</code>, each row citing its Fed
statement): BTC's cumulative log return (shown as percent) from the close of the trading day before the event to the
close of day 0, +5 and +30 (trading days = days with an EFFR fixing; a close is the next 00:00 UTC snapshot), and the
change of net liquidity, reserves and SOFR &minus; IORB over the same span, as known at those instants. "-" = the
data do not reach that day (or IORB did not exist yet).</p>

<h2 id="coins">Configured coins: best lead of net liquidity</h2>
<table id="coin-leads-table">
<thead><tr><th>coin</th><th>period</th><th>best lead, levels (days)</th><th>correlation</th>
<th>best lead, 7-day changes (days)</th><th>correlation</th><th>crypto dates</th></tr></thead>
<tbody>
{% for c in coin_leads %}<tr data-key="{{ c.key }}">
<td><code>{{ c.coin }}</code></td><td>{{ c.period }}</td>
<td class="num">{{ '-' if c.lead_levels_days is none else c.lead_levels_days }}</td>
<td class="num">{{ '-' if c.corr_levels is none else '%.3f' | format(c.corr_levels) }}</td>
<td class="num">{{ '-' if c.lead_changes_days is none else c.lead_changes_days }}</td>
<td class="num">{{ '-' if c.corr_changes is none else '%.3f' | format(c.corr_changes) }}</td>
<td class="date">{{ c.first_date }} .. {{ c.last_date }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="meta">Every coin of <code>LIQUIDITY_COINS</code>, from <code>liquidity_lag_scan</code> (rows with a
<code>coin_id</code>): the lead of net liquidity (as known at 00:00 UTC that many days before the coin's daily
snapshot) whose correlation with the coin's market cap is highest, per period; per-day values in
<code>crypto_vs_liquidity_by_coin</code>. "-" = fewer pairs than the scan's minimum.</p>

<h2 id="freshness">Data freshness per series</h2>
<table id="freshness-table">
<thead><tr><th>series</th><th>source</th><th>what</th><th>cadence, max age</th><th>latest observation</th><th>known on</th>
<th>last value</th><th>unit</th><th>days since</th><th>status</th><th>note</th></tr></thead>
<tbody>
{% for f in freshness %}<tr data-series="{{ f.series }}"{% if f.status != 'current' %} class="stale"{% endif %}>
<td><code>{{ f.series }}</code></td><td>{{ f.source }}</td><td>{{ f.what }}</td><td class="nowrap">{{ f.cadence }}</td>
<td class="date">{{ f.last_observation or '-' }}</td><td class="date">{{ f.known_on or '-' }}</td>
<td class="num">{{ '-' if f.value is none else f.value | num(f.unit) }}</td><td class="nowrap">{{ f.unit }}</td>
<td class="num">{{ '-' if f.days_behind is none else f.days_behind }}</td><td>{{ f.status }}</td><td>{{ f.note }}</td></tr>
{% endfor %}</tbody>
</table>
<p class="meta">From the <code>series_freshness</code> table of serving.duckdb, status on {{ data_through }} (the last day
of the data): <em>stale</em> = the latest observation is more days old than the series' maximum staleness (catalog
<code>max_stale_days</code>; CoinGecko: dbt var <code>crypto_max_stale_days</code>), so the marts show NULL instead of
carrying it forward; <em>missing</em> = no observation in the warehouse. "Known on" is the day the latest observation
became public (release calendar); "days since" counts from the latest observation to {{ data_through }}; "max age"
is the maximum staleness; <em>optional</em> series (not required by the pipeline) only warn when late.</p>

<h2 id="sources">Sources and credits</h2>
<ul>
{% for c in citations %}<li>{{ c }}</li>
{% endfor %}<li>{{ coingecko }}</li>
<li>Policy phases: seed <code>fed_policy_events</code> (FOMC statements and Federal Reserve Board press releases).</li>
</ul>
<footer>Charts: Vega-Lite specs from Vega-Altair, rendered in this page by Vega (inlined; the Dagster UI thumbnail is
the same spec rendered to PNG by vl-convert). Regenerate with <code>make report</code> (reads serving.duckdb only, no
ingest). A correlation is not a cause: compare the periods in the lag scan to see whether the link holds in recent
years.
</footer>
<script>{{ bundle | safe }}</script>
<script id="chart-specs" type="application/json">{{ specs | safe }}</script>
<script>
(function () {
  var specs = JSON.parse(document.getElementById("chart-specs").textContent);
  Object.keys(specs).forEach(function (slug) {
    var el = document.getElementById("vis-" + slug);
    vegaEmbed(el, specs[slug], {actions: false, renderer: "canvas", tooltip: {theme: "light"}})
      .then(function () { el.setAttribute("data-rendered", "1"); })
      .catch(function (err) { el.setAttribute("data-error", String(err)); el.textContent = "chart failed: " + err; });
  });
})();
</script>
</body>
</html>
"""

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_ENV.filters["num"] = _fmt  # the number format of the latest-values table, by unit


def render(**context) -> str:
    return _ENV.from_string(TEMPLATE).render(
        bundle=vega_bundle(), specs=specs_json(context["charts"]), **context
    )
