{#-
  Range test over several columns of one model, in one query. `bounds` lists
  {column, min_value, max_value, inclusive}: the column must lie in [min_value, max_value] (the open
  interval when inclusive is false; default true); either bound may be omitted; NULLs pass
  (`not_null_columns` covers the required columns). Fails with one row per offending row and
  column: `failed_column`, then the model's row. One test per model, not one per column: each
  was a dbt node and a query of its own (68 of them), and most of a `dbt build` is per node
  (README, Performance).
-#}
{% test values_between(model, bounds) %}
{%- for bound in bounds %}
{%- set column = bound['column'] %}
{%- set inclusive = bound.get('inclusive', true) %}
select '{{ column }}' as failed_column, *
from {{ model }}
where {{ column }} is not null
  and not (
      true
      {%- if bound.get('min_value') is not none %} and {{ column }} {{ '>=' if inclusive else '>' }} {{ bound['min_value'] }}{% endif %}
      {%- if bound.get('max_value') is not none %} and {{ column }} {{ '<=' if inclusive else '<' }} {{ bound['max_value'] }}{% endif %}
  )
{{ "union all" if not loop.last }}
{%- endfor %}
{% endtest %}
