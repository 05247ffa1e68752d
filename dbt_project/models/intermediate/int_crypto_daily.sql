-- One row per UTC day with any crypto data: BTC and ETH (price, market cap) and total market cap,
-- for the wide crypto_vs_liquidity. observed_at is the EARLIEST snapshot instant among the row's
-- values (00:00 UTC for the daily points): what was known then was known when each of them was
-- taken, so a row joined at observed_at never sees a release after any of its values.
with coins as (
    select
        observation_date as date_day,
        max(case when coin_id = 'bitcoin' then price_usd end)       as btc_price_usd,
        max(case when coin_id = 'bitcoin' then market_cap_usd end)  as btc_market_cap_usd,
        max(case when coin_id = 'ethereum' then price_usd end)      as eth_price_usd,
        max(case when coin_id = 'ethereum' then market_cap_usd end) as eth_market_cap_usd,
        min(observed_at)                                            as observed_at
    from {{ ref('stg_coingecko__market_chart') }}
    where coin_id in ('bitcoin', 'ethereum')
    group by observation_date
),

total as (
    select observation_date as date_day, total_market_cap_usd, observed_at
    from {{ ref('stg_coingecko__global') }}
)

select
    date_day,
    least(coins.observed_at, total.observed_at) as observed_at,
    coins.btc_price_usd,
    coins.btc_market_cap_usd,
    coins.eth_price_usd,
    coins.eth_market_cap_usd,
    total.total_market_cap_usd
from coins
full outer join total using (date_day)
