{#-
  The CTEs `releases`, `knowledge` and `by_known` over CTEs `observations` (concept,
  observation_date, `at`) and `grid` (`key`, concept): for each concept and release `at` (known_on
  date or known_at instant), the newest observation date known by then, as a running max over
  `at`, so a late-released old observation can never replace a newer one; `by_known` ASOF-joins it
  to each grid row: latest_known_observation_date = the newest observation released by `key`.
  int_series_daily (by known_on, per day) and int_series_at_instants (by known_at, per instant).
-#}
{% macro release_knowledge(at, key) %}
-- for each concept and release {{ at }}: the newest observation date released then
releases as (
    select concept, {{ at }}, max(observation_date) as newest_released
    from observations
    group by concept, {{ at }}
),

knowledge as (
    select
        concept,
        {{ at }},
        max(newest_released) over (
            partition by concept order by {{ at }}
            rows between unbounded preceding and current row
        ) as latest_known_observation_date
    from releases
),

by_known as (
    select
        grid.{{ key }},
        grid.concept,
        knowledge.latest_known_observation_date
    from grid
    asof left join knowledge
        on grid.concept = knowledge.concept
        and grid.{{ key }} >= knowledge.{{ at }}
)
{%- endmacro %}

{#-
  staleness_status(observation_date, age_days, fresh): the one staleness rule of the marts.
  'missing' without an observation, 'stale' once its age passes the catalog's max_stale_days
  (a column of the row), else `fresh` ('fresh' in the intermediate models, 'current' in
  series_freshness). int_series_daily (observation date and as known), int_series_at_instants,
  series_freshness.
-#}
{% macro staleness_status(observation_date, age_days, fresh='fresh') -%}
    case
        when {{ observation_date }} is null then 'missing'
        when {{ age_days }} > max_stale_days then 'stale'
        else '{{ fresh }}'
    end
{%- endmacro %}
