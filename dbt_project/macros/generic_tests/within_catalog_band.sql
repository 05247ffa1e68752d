{#-
  Unit-drift test: a value converted to its target unit with the catalog's scale must lie in the
  catalog's magnitude band for its series (min_value..max_value, target units). A TGA of 0.8
  "billions" or a WALCL of 6.5 million "billions" means the published units contradict the
  catalog. The model must carry the band columns (staging joins them from the catalog).
-#}
{% test within_catalog_band(model, column_name, min_column='min_value', max_column='max_value', key_columns=['series_id', 'observation_date']) %}
-- the tested column keeps its name, so the run summary shows it beside the key (orchestration/assets/dbt.py)
select {{ key_columns | join(', ') }}, {{ column_name }}, {{ min_column }}, {{ max_column }}
from {{ model }}
where {{ column_name }} is not null
  and ({{ min_column }} is null or {{ max_column }} is null
       or {{ column_name }} < {{ min_column }} or {{ column_name }} > {{ max_column }})
{% endtest %}
