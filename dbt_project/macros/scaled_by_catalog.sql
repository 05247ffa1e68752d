{#-
  The one unit rule of staging, shared by stg_fred__observations, stg_fed_ddp__observations and
  stg_treasury_dts__observations: the published value times the catalog's scale gives the target
  unit (USD billions or percent). `relation` is the model's `typed` CTE (series_id,
  observation_date, published_value, known_on, known_at, plus `extra_columns`); scale, units,
  cadence, release rule, staleness and band come from the catalog line of (source_name, series_id),
  never hard-coded, so every source is normalized by exactly the same expression. A series without
  a catalog line keeps its row with NULL catalog columns (the band test then fails on it).
-#}
{% macro scaled_by_catalog(source_name, relation, extra_columns=[]) %}
select
    '{{ source_name }}'                                      as source,
    {%- for column in extra_columns %}
    {{ relation }}.{{ column }},
    {%- endfor %}
    catalog.concept,
    {{ relation }}.series_id,
    {{ relation }}.observation_date,
    -- round away binary noise of the scaling (1e-9 bn = 1 USD; rates have <= 4 decimals)
    round({{ relation }}.published_value * catalog.scale, 9) as value,
    catalog.target_unit,
    {{ relation }}.published_value,
    catalog.units                                            as published_units,
    catalog.scale,
    catalog.cadence,
    catalog.dating,
    catalog.release_rule,
    {{ relation }}.known_on,
    {{ relation }}.known_at,
    catalog.max_stale_days,
    catalog.min_value,
    catalog.max_value
from {{ relation }}
left join {{ ref('stg_catalog__series') }} as catalog
    on catalog.source = '{{ source_name }}'
    and catalog.series_id = {{ relation }}.series_id
{% endmacro %}
