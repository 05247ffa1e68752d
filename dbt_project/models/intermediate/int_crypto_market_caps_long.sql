{#-
  One row per crypto asset and UTC day with a positive market cap (its 00:00 UTC snapshot): the
  level and its var('corr_change_days')-day log change. Assets: btc, eth and total market cap
  (int_crypto_daily; coin_id NULL) and every loaded coin (LIQUIDITY_COINS) under its CoinGecko id
  (coin_id = asset). The crypto side of the lead scans (liquidity_lag_scan, int_lead_scan_bootstrap).
-#}
{%- set k = var('corr_change_days') -%}
with crypto as (
    select * from {{ ref('int_crypto_daily') }}
),

coins as (
    select coin_id, observation_date as date_day, market_cap_usd
    from {{ ref('stg_coingecko__market_chart') }}
    where market_cap_usd > 0
)

{%- for asset, column in {'btc': 'btc_market_cap_usd', 'eth': 'eth_market_cap_usd', 'total': 'total_market_cap_usd'}.items() %}
select
    '{{ asset }}' as asset,
    cast(null as varchar) as coin_id,
    crypto.date_day,
    crypto.{{ column }} as level,
    {{ log_change('crypto.' ~ column, 'prev.' ~ column) }} as chg
from crypto
left join crypto as prev on prev.date_day = crypto.date_day - {{ k }}
where crypto.{{ column }} > 0
union all
{%- endfor %}
select
    coins.coin_id as asset,
    coins.coin_id,
    coins.date_day,
    coins.market_cap_usd as level,
    {{ log_change('coins.market_cap_usd', 'prev.market_cap_usd') }} as chg
from coins
left join coins as prev
    on prev.coin_id = coins.coin_id
    and prev.date_day = coins.date_day - {{ k }}
