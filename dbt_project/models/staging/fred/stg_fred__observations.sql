-- FRED observations in target units (USD billions or percent), one row per series and date.
-- Published units vary by series (WALCL millions, RRPONTSYD billions, SOFR percent): the catalog's
-- scale converts them (macro scaled_by_catalog, the same rule for every source).
with source as (
    select * from {{ source('fred', 'fred_observations') }}
),

renamed as (
    select
        series_id,
        observation_date,
        value as published_value,
        known_on,
        known_at
    from source
),

typed as (
    select
        cast(series_id as varchar)      as series_id,
        cast(observation_date as date)  as observation_date,
        cast(published_value as double) as published_value,
        cast(known_on as date)          as known_on,
        -- release instant, UTC (TIMESTAMP without time zone), from ingest/calendar.py known_at
        cast(known_at as timestamp)     as known_at
    from renamed
)

{{ scaled_by_catalog('fred', 'typed') }}
