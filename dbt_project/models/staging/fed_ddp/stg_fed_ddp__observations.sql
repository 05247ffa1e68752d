-- Fed DDP (H.4.1, H.8) observations in target units (USD billions), one row per series and date.
-- Raw values are USD with the DDP multiplier applied; the catalog's scale (1e-9) makes billions
-- (macro scaled_by_catalog, the same rule for every source).
with source as (
    select * from {{ source('fed_ddp', 'fed_ddp_observations') }}
),

renamed as (
    select
        release,
        series_id,
        observation_date,
        value as published_value,
        known_on,
        known_at
    from source
),

typed as (
    select
        cast(release as varchar)        as release,
        cast(series_id as varchar)      as series_id,
        cast(observation_date as date)  as observation_date,
        cast(published_value as double) as published_value,
        cast(known_on as date)          as known_on,
        -- release instant, UTC (TIMESTAMP without time zone), from ingest/calendar.py known_at
        cast(known_at as timestamp)     as known_at
    from renamed
)

{{ scaled_by_catalog('fed_ddp', 'typed', extra_columns=['release']) }}
