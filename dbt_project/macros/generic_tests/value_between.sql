{#-
  Range test: fails on rows where the column is outside [min_value, max_value]
  (or the open interval when inclusive=false). NULLs pass; combine with not_null where required.
  Either bound may be omitted.
-#}
{% test value_between(model, column_name, min_value=none, max_value=none, inclusive=true) %}
{%- set lo = '>=' if inclusive else '>' -%}
{%- set hi = '<=' if inclusive else '<' -%}
select *
from {{ model }}
where {{ column_name }} is not null
  and not (
      true
      {%- if min_value is not none %} and {{ column_name }} {{ lo }} {{ min_value }}{% endif %}
      {%- if max_value is not none %} and {{ column_name }} {{ hi }} {{ max_value }}{% endif %}
  )
{% endtest %}
