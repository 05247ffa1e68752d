{#-
  Catalog consistency: the scale of each series must be the factor implied by its published units
  and its target unit (millions -> usd_bn 0.001, billions -> 1, DDP 'Currency' in plain USD -> 1e-9,
  percent -> pct 1). Fails on rows whose scale contradicts the units text, or whose units are not
  recognised, so a catalog edit cannot silently scale a series wrongly.
-#}
{% test catalog_units_consistent(model, units_column='units', target_unit_column='target_unit', scale_column='scale') %}
with expected as (
    select
        *,
        case
            when {{ target_unit_column }} = 'pct' and lower({{ units_column }}) like 'percent%' then 1.0
            when {{ target_unit_column }} = 'usd_bn' and lower({{ units_column }}) like 'trillions of%dollars%' then 1000.0
            when {{ target_unit_column }} = 'usd_bn' and lower({{ units_column }}) like 'billions of%dollars%' then 1.0
            when {{ target_unit_column }} = 'usd_bn' and lower({{ units_column }}) like 'millions of%dollars%' then 0.001
            when {{ target_unit_column }} = 'usd_bn' and lower({{ units_column }}) like 'thousands of%dollars%' then 0.000001
            -- Fed DDP: 'Currency' with the multiplier already applied by ingest, i.e. plain USD
            when {{ target_unit_column }} = 'usd_bn' and lower({{ units_column }}) = 'currency' then 0.000000001
        end as expected_scale
    from {{ model }}
)
select *
from expected
where expected_scale is null
   or {{ scale_column }} is null
   or abs({{ scale_column }} / expected_scale - 1) > 1e-9
{% endtest %}
