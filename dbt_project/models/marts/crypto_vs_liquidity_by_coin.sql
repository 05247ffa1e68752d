{#-
  One row per (UTC day, coin) for every coin loaded (LIQUIDITY_COINS), long. Same meaning as the
  wide crypto_vs_liquidity: the row dated D is the coin's 00:00 UTC snapshot of D (observed_at);
  net_liquidity_bn is the value AS KNOWN AT observed_at (release instants), net_liquidity_lagged_bn
  the value known var('lag_days') days earlier; rolling correlations of the coin's market cap with
  the lagged net liquidity, on levels and on 7-day log changes, per var('corr_windows') window,
  each coin on its own (macros in macros/crypto_vs_liquidity.sql).
-#}
{%- set k = var('corr_change_days') -%}
with coins as (
    select
        coin_id,
        observation_date as date_day,
        observed_at,
        price_usd,
        market_cap_usd,
        total_volume_usd
    from {{ ref('stg_coingecko__market_chart') }}
),

joined as (
    select
        coins.*,
        {{ known_liquidity_columns() }},
        prev.market_cap_usd as market_cap_prev_usd
    from coins
    {{ known_liquidity_joins('coins') }}
    left join coins as prev
        on prev.coin_id = coins.coin_id
        and prev.date_day = coins.date_day - {{ k }}
),

changes as (
    select
        *,
        {{ log_change('net_liquidity_lagged_bn', 'net_liquidity_lagged_prev_bn') }} as net_liquidity_lagged_chg,
        {{ log_change('market_cap_usd', 'market_cap_prev_usd') }} as market_cap_chg
    from joined
),

correlations as (
    select
        *
        {{- rolling_correlations('', 'market_cap_usd', 'market_cap_chg') }}
    from changes
    {{ rolling_windows('coin_id') }}
)

select
    date_day                                   as date,
    coin_id,
    observed_at,
    price_usd,
    market_cap_usd,
    total_volume_usd,
    net_liquidity_bn,
    net_liquidity_as_of,
    cast({{ var('lag_days') | int }} as integer) as lag_days,
    net_liquidity_lagged_bn
    {{- correlation_columns('') }}
from correlations
