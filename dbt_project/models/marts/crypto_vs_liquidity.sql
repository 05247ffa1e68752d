{#-
  One row per UTC day with crypto data. net_liquidity_bn is the release-aware value known at the
  end of that day (known_on <= day), weekly or daily definition by var('net_liquidity_definition'); net_liquidity_lagged_bn is the same as-known series
  var('lag_days') days earlier. Rolling correlations per asset (btc and eth market cap, total
  market cap) against the lagged net liquidity, over trailing calendar windows (var corr_windows):
    levels  : corr(asset level, lagged net liquidity level)
    changes : corr of 7-day log changes ln(x_t / x_{t-7}), which avoids the zero daily changes of
              a weekly series and the spurious correlation of two trending levels.
  A correlation needs at least ceil(window * var('corr_min_obs_share')) complete pairs, else NULL.
-#}
{%- set assets = {'btc': 'btc_market_cap_usd', 'eth': 'eth_market_cap_usd', 'total': 'total_market_cap_usd'} -%}
{%- set windows = var('corr_windows') -%}
{%- set k = var('corr_change_days') -%}
{%- set lag_days = var('lag_days') | int -%}
with crypto as (
    select * from {{ ref('int_crypto_daily') }}
),

known as (
    select date_day, {{ net_liquidity_column() }} as net_liquidity_bn, fed_total_assets_observation_date
    from {{ ref('int_liquidity_daily__known') }}
),

joined as (
    select
        crypto.*,
        nl_now.net_liquidity_bn,
        nl_now.fed_total_assets_observation_date as net_liquidity_as_of,
        nl_lag.net_liquidity_bn                  as net_liquidity_lagged_bn,
        nl_lag_prev.net_liquidity_bn             as net_liquidity_lagged_prev_bn,
        {%- for asset, column in assets.items() %}
        prev.{{ column }}                        as {{ asset }}_prev{{ "," if not loop.last }}
        {%- endfor %}
    from crypto
    left join known as nl_now      on nl_now.date_day = crypto.date_day
    left join known as nl_lag      on nl_lag.date_day = crypto.date_day - {{ lag_days }}
    left join known as nl_lag_prev on nl_lag_prev.date_day = crypto.date_day - {{ lag_days + k }}
    left join crypto as prev       on prev.date_day = crypto.date_day - {{ k }}
),

changes as (
    select
        *,
        case when net_liquidity_lagged_bn > 0 and net_liquidity_lagged_prev_bn > 0
             then ln(net_liquidity_lagged_bn / net_liquidity_lagged_prev_bn) end as net_liquidity_lagged_chg,
        {%- for asset, column in assets.items() %}
        case when {{ column }} > 0 and {{ asset }}_prev > 0
             then ln({{ column }} / {{ asset }}_prev) end as {{ asset }}_chg{{ "," if not loop.last }}
        {%- endfor %}
    from joined
),

correlations as (
    select
        *
        {%- for asset, column in assets.items() %}
        {%- for w in windows %}
        {%- set min_obs = (w * var('corr_min_obs_share')) | round(0, 'ceil') | int %},
        case when regr_count({{ column }}, net_liquidity_lagged_bn) over w{{ w }} >= {{ min_obs }}
             then corr({{ column }}, net_liquidity_lagged_bn) over w{{ w }} end
            as {{ asset }}_corr_levels_{{ w }}d,
        case when regr_count({{ asset }}_chg, net_liquidity_lagged_chg) over w{{ w }} >= {{ min_obs }}
             then corr({{ asset }}_chg, net_liquidity_lagged_chg) over w{{ w }} end
            as {{ asset }}_corr_changes_{{ w }}d
        {%- endfor %}
        {%- endfor %}
    from changes
    window
        {%- for w in windows %}
        w{{ w }} as (order by date_day range between interval {{ w - 1 }} days preceding and current row){{ "," if not loop.last }}
        {%- endfor %}
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
    cast({{ lag_days }} as integer)            as lag_days,
    net_liquidity_lagged_bn
    {%- for asset in assets %}
    {%- for kind in ['levels', 'changes'] %}
    {%- for w in windows %},
    round({{ asset }}_corr_{{ kind }}_{{ w }}d, 6) as {{ asset }}_corr_{{ kind }}_{{ w }}d
    {%- endfor %}
    {%- endfor %}
    {%- endfor %}
from correlations
