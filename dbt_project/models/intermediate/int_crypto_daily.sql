-- One row per UTC day with any crypto data: BTC and ETH (price, market cap) and total market cap.
with coins as (
    select
        observation_date as date_day,
        max(case when coin_id = 'bitcoin' then price_usd end)       as btc_price_usd,
        max(case when coin_id = 'bitcoin' then market_cap_usd end)  as btc_market_cap_usd,
        max(case when coin_id = 'ethereum' then price_usd end)      as eth_price_usd,
        max(case when coin_id = 'ethereum' then market_cap_usd end) as eth_market_cap_usd
    from {{ ref('stg_coingecko__market_chart') }}
    where coin_id in ('bitcoin', 'ethereum')
    group by observation_date
),

total as (
    select observation_date as date_day, total_market_cap_usd
    from {{ ref('stg_coingecko__global') }}
)

select
    date_day,
    coins.btc_price_usd,
    coins.btc_market_cap_usd,
    coins.eth_price_usd,
    coins.eth_market_cap_usd,
    total.total_market_cap_usd
from coins
full outer join total using (date_day)
