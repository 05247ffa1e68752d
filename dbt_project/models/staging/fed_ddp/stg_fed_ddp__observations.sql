-- Fed DDP (H.4.1, H.8) observations in target units (USD billions), one row per series and date.
-- Raw values are USD with the DDP multiplier applied; the catalog's scale (1e-9) makes billions.
with source as (
    select * from {{ source('fed_ddp', 'fed_ddp_observations') }}
),

catalog as (
    select * from {{ ref('stg_catalog__series') }}
    where source = 'fed_ddp'
),

renamed as (
    select
        'fed_ddp'                                        as source,
        cast(source.release as varchar)                  as release,
        catalog.concept,
        cast(source.series_id as varchar)                as series_id,
        cast(source.observation_date as date)            as observation_date,
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
