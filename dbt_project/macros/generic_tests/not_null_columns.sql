{#-
  Not-null test over several columns of one model in one query: fails with one row per listed
  column that holds NULLs (column_name, null_rows), so the failure names the columns. It replaces
  dbt's one-`not_null`-per-column, which cost a dbt node and a query per column (134 of them) on
  every build, most of the time of a `dbt build` being per node (README, Performance).
-#}
{% test not_null_columns(model, columns) %}
with null_counts as (
    select
    {%- for column in columns %}
        count(*) filter (where {{ column }} is null) as null_rows_{{ loop.index }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
)
{%- for column in columns %}
select '{{ column }}' as column_name, null_rows_{{ loop.index }} as null_rows
from null_counts
where null_rows_{{ loop.index }} > 0
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
