{#-
  One row per UTC day with crypto data (wide: BTC, ETH, total market cap). The row dated D holds
  the 00:00 UTC snapshot of D (the close of UTC day D-1; 19:00/20:00 New York time on D-1), whatever
  the source (market_chart API, classic or 2026 website export). net_liquidity_bn (weekly or daily definition,
  var('net_liquidity_definition')) is the value AS KNOWN AT that instant (observed_at): only releases with known_at <= observed_at, so the H.4.1 of
  Thursday 16:30 ET is not seen by that Thursday's row. net_liquidity_lagged_bn is the value known
  var('lag_days') days before observed_at. Rolling correlations per asset (btc and eth market cap,
  total market cap) against the lagged net liquidity, over trailing calendar windows (var corr_windows):
    levels  : corr(asset level, lagged net liquidity level)
    changes : corr of 7-day log changes ln(x_t / x_{t-7}), which avoids the zero daily changes of
              a weekly series and the spurious correlation of two trending levels.
  A correlation needs at least ceil(window * var('corr_min_obs_share')) complete pairs, else NULL.
  The same per coin, long: crypto_vs_liquidity_by_coin (macros in macros/crypto_vs_liquidity.sql).
-#}
{%- set assets = {'btc': 'btc_market_cap_usd', 'eth': 'eth_market_cap_usd', 'total': 'total_market_cap_usd'} -%}
{%- set k = var('corr_change_days') -%}
with crypto as (
    select * from {{ ref('int_crypto_daily') }}
),

joined as (
    select
        crypto.*,
        {{ known_liquidity_columns() }},
        {%- for asset, column in assets.items() %}
        prev.{{ column }}                        as {{ asset }}_prev{{ "," if not loop.last }}
        {%- endfor %}
    from crypto
    {{ known_liquidity_joins('crypto') }}
    left join crypto as prev on prev.date_day = crypto.date_day - {{ k }}
),

changes as (
    select
        *,
        {{ log_change('net_liquidity_lagged_bn', 'net_liquidity_lagged_prev_bn') }} as net_liquidity_lagged_chg,
        {%- for asset, column in assets.items() %}
        {{ log_change(column, asset ~ '_prev') }} as {{ asset }}_chg{{ "," if not loop.last }}
        {%- endfor %}
    from joined
),

correlations as (
    select
        *
        {%- for asset, column in assets.items() %}
        {{- rolling_correlations(asset ~ '_', column, asset ~ '_chg') }}
        {%- endfor %}
    from changes
    {{ rolling_windows() }}
)

select
    date_day                                   as date,
    btc_price_usd,
    btc_market_cap_usd,
    eth_price_usd,
    eth_market_cap_usd,
    total_market_cap_usd,
    net_liquidity_bn,
    net_liquidity_as_of,
    cast('{{ var("net_liquidity_definition") }}' as varchar) as net_liquidity_definition,
    cast({{ var('lag_days') | int }} as integer) as lag_days,
    net_liquidity_lagged_bn
    {%- for asset in assets %}
    {{- correlation_columns(asset ~ '_') }}
    {%- endfor %},
    observed_at
from correlations
