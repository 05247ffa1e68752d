-- The daily TGA closing balance from the Daily Treasury Statement in the catalog's target unit
-- (USD billions), one row per record date, shaped like the FRED and DDP staging models so it joins
-- the same as-of machinery (series DTS_TGA_CLOSE, concept tga_daily). Which Table I row holds the
-- balance changed over time: stg_treasury_dts__cash_balance picks it (tga_close_millions).
with source as (
    select * from {{ ref('stg_treasury_dts__cash_balance') }}
    where series_id is not null
),

renamed as (
    select
        tga_label_era,
        series_id,
        observation_date,
        tga_close_millions as published_value,
        known_on,
        known_at
    from source
),

typed as (
    select
        cast(tga_label_era as varchar)  as tga_label_era,
        cast(series_id as varchar)      as series_id,
        cast(observation_date as date)  as observation_date,
        cast(published_value as double) as published_value,
        cast(known_on as date)          as known_on,
        -- release instant, UTC (TIMESTAMP without time zone), from ingest/calendar.py known_at
        cast(known_at as timestamp)     as known_at
    from renamed
)

{{ scaled_by_catalog('treasury_dts', 'typed', extra_columns=['tga_label_era']) }}
