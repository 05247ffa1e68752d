-- FRED observations in target units (USD billions or percent), one row per series and date.
-- Scale, units and cadence come from the catalog (joined on source + series_id), never hard-coded.
with source as (
    select * from {{ source('fred', 'fred_observations') }}
),

catalog as (
    select * from {{ ref('stg_catalog__series') }}
    where source = 'fred'
),

renamed as (
    select
        'fred'                                           as source,
        catalog.concept,
        cast(source.series_id as varchar)                as series_id,
        cast(source.observation_date as date)            as observation_date,
        -- round away binary noise of the scaling (1e-9 bn = 1 USD; rates have <= 4 decimals)
        round(cast(source.value as double) * catalog.scale, 9) as value,
        catalog.target_unit,
        cast(source.value as double)                     as published_value,
        catalog.units                                    as published_units,
        catalog.scale,
        catalog.cadence,
        catalog.dating,
        catalog.release_rule,
        cast(source.known_on as date)                    as known_on,
        catalog.max_stale_days,
        catalog.min_value,
        catalog.max_value
    from source
    left join catalog
        on catalog.series_id = source.series_id
)

select * from renamed
