{#- A table, not a view like the other staging models: the one-row-per-coin-and-day choice is a
    window over every coin's raw rows, and a view would recompute it for each of its tests and each
    model reading it (with hundreds of coins that was most of dbt build; see bench/README.md). -#}
{{ config(materialized='table') }}

-- One row per coin and UTC day. Where the API and the website export both cover a day, the API
-- row wins (then the latest snapshot), so the choice never depends on load order.
with source as (
    select * from {{ source('coingecko', 'coingecko_market_chart') }}
),

renamed as (
    select
        coin_id,
        observation_date,
        origin,
        snapped_at as observed_at,
        price_usd,
        market_cap_usd,
        total_volume_usd,
        known_on,
        known_at
    from source
),

typed as (
    select
        cast(coin_id as varchar)           as coin_id,
        cast(observation_date as date)     as observation_date,
        cast(origin as varchar)            as origin,
        cast(observed_at as timestamp)     as observed_at,
        cast(price_usd as double)          as price_usd,
        cast(market_cap_usd as double)     as market_cap_usd,
        cast(total_volume_usd as double)   as total_volume_usd,
        cast(known_on as date)             as known_on,
        cast(known_at as timestamp)        as known_at
    from renamed
),

ranked as (
    select
        *,
        row_number() over (
            partition by coin_id, observation_date
            order by case origin when 'api' then 0 when 'export' then 1 else 2 end, observed_at desc
        ) as origin_rank
    from typed
)

select
    coin_id,
    observation_date,
    origin,
    observed_at,
    price_usd,
    market_cap_usd,
    total_volume_usd,
    known_on,
    known_at
from ranked
where origin_rank = 1
