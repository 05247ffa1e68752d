-- Total crypto market cap, one row per UTC day: the market_cap_chart history is preferred over
-- /global snapshots, and within an origin the last snapshot of the day is taken.
with source as (
    select * from {{ source('coingecko', 'coingecko_global') }}
),

renamed as (
    select
        observation_date,
        origin,
        snapped_at as observed_at,
        total_market_cap_usd,
        total_volume_usd,
        known_on,
        known_at
    from source
),

typed as (
    select
        cast(observation_date as date)       as observation_date,
        cast(origin as varchar)              as origin,
        cast(observed_at as timestamp)       as observed_at,
        cast(total_market_cap_usd as double) as total_market_cap_usd,
        cast(total_volume_usd as double)     as total_volume_usd,
        cast(known_on as date)               as known_on,
        cast(known_at as timestamp)          as known_at
    from renamed
),

ranked as (
    select
        *,
        row_number() over (
            partition by observation_date
            order by case origin when 'market_cap_chart' then 0 else 1 end, observed_at desc
        ) as snapshot_rank
    from typed
)

select
    observation_date,
    origin,
    observed_at,
    total_market_cap_usd,
    total_volume_usd,
    known_on,
    known_at
from ranked
where snapshot_rank = 1
