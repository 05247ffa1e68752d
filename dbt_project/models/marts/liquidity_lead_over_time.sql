{#-
  The best lead of net liquidity over crypto in rolling windows: one row per window and asset
  (btc, eth, total), levels and 7-day log changes side by side, from int_lead_scan_bootstrap
  (scope 'window', a dbt Python model: point estimate by the liquidity_lag_scan rule, moving-block
  bootstrap intervals). Window ends step var lead_window_step_days from var lead_window_anchor;
  each window spans var lead_window_days crypto dates.
-#}
with windows as (
    select * from {{ ref('int_lead_scan_bootstrap') }} where scope = 'window'
),

keys as (
    select distinct asset, window_start, window_end, ci_level, ci_block_days, ci_resamples from windows
)

select
    keys.asset,
    keys.window_start,
    keys.window_end,
    cast(datediff('day', keys.window_start, keys.window_end) + 1 as integer) as window_days,
    {%- for kind in ['levels', 'changes'] %}
    cast({{ kind }}.n_obs as bigint)                 as n_obs_{{ kind }},
    cast({{ kind }}.best_lead_days as integer)       as best_lead_{{ kind }}_days,
    {{ kind }}.best_corr                             as best_corr_{{ kind }},
    cast({{ kind }}.near_best_min_days as integer)   as near_best_{{ kind }}_min_days,
    cast({{ kind }}.near_best_max_days as integer)   as near_best_{{ kind }}_max_days,
    {{ kind }}.corr_ci_low                           as best_corr_{{ kind }}_ci_low,
    {{ kind }}.corr_ci_high                          as best_corr_{{ kind }}_ci_high,
    cast({{ kind }}.lead_ci_low_days as integer)     as best_lead_{{ kind }}_ci_low_days,
    cast({{ kind }}.lead_ci_high_days as integer)    as best_lead_{{ kind }}_ci_high_days,
    {%- endfor %}
    keys.ci_level,
    cast(keys.ci_block_days as integer)              as ci_block_days,
    cast(keys.ci_resamples as integer)               as ci_resamples
from keys
{%- for kind in ['levels', 'changes'] %}
left join windows as {{ kind }}
    on {{ kind }}.asset = keys.asset
    and {{ kind }}.window_end = keys.window_end
    and {{ kind }}.window_start = keys.window_start
    and {{ kind }}.kind = '{{ kind }}'
{%- endfor %}
