{#-
  Staging for the long observation tables (raw.fred_observations, raw.fed_ddp_observations):
  the published value times the catalog's scale gives the target unit (USD billions or percent).
  Scale, units, cadence and bands come from the catalog (joined on source + series_id), never
  hard-coded, so every source is normalized by exactly the same expression.
  `relation` (with `where`) replaces the raw source table for a source whose raw rows need picking
  first (the Daily Treasury Statement: which Table I row holds the TGA balance changed over time).
-#}
{% macro scaled_observations(source_name, table_name=none, extra_columns=[], relation=none, where=none) %}
with source as (
    select * from {{ relation if relation is not none else source(source_name, table_name) }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
),

catalog as (
    select * from {{ ref('stg_catalog__series') }}
    where source = '{{ source_name }}'
),

renamed as (
    select
        '{{ source_name }}'                              as source,
        {%- for column in extra_columns %}
        cast(source.{{ column }} as varchar)             as {{ column }},
        {%- endfor %}
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
        -- release instant, UTC (TIMESTAMP without time zone), from ingest/calendar.py known_at
        cast(source.known_at as timestamp)               as known_at,
        catalog.max_stale_days,
        catalog.min_value,
        catalog.max_value
    from source
    left join catalog
        on catalog.series_id = source.series_id
)

select * from renamed
{% endmacro %}
