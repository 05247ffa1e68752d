-- The series catalog, typed: the single place units, scale, cadence and staleness come from.
with source as (
    select * from {{ source('catalog', 'series_catalog') }}
),

renamed as (
    select
        source,
        series_id,
        dataset,
        concept,
        title,
        units,
        target_unit,
        scale,
        cadence,
        dating,
        release_rule,
        max_stale_days,
        required as is_required,
        min_value,
        max_value
    from source
),

typed as (
    select
        cast(source as varchar)          as source,
        cast(series_id as varchar)       as series_id,
        cast(dataset as varchar)         as dataset,
        cast(concept as varchar)         as concept,
        cast(title as varchar)           as title,
        cast(units as varchar)           as units,
        cast(target_unit as varchar)     as target_unit,
        cast(scale as double)            as scale,
        cast(cadence as varchar)         as cadence,
        cast(dating as varchar)          as dating,
        cast(release_rule as varchar)    as release_rule,
        cast(max_stale_days as integer)  as max_stale_days,
        cast(is_required as boolean)     as is_required,
        cast(min_value as double)        as min_value,
        cast(max_value as double)        as max_value
    from renamed
)

select * from typed
