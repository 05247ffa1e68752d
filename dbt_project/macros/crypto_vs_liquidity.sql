{#-
  Shared by the crypto marts (crypto_vs_liquidity, crypto_vs_liquidity_by_coin, liquidity_lag_scan),
  so that they pair crypto with liquidity and correlate exactly alike.

  known_liquidity_joins(crypto): join net liquidity AS KNOWN AT the crypto row's observed_at
  (int_liquidity_known_at, release instants compared with the snapshot instant), and at
  observed_at - var('lag_days') and - (lag_days + corr_change_days) days for the lagged series.
  known_liquidity_columns(): the columns those joins give.
-#}
{% macro known_liquidity_joins(crypto) %}
    {%- set lag_days = var('lag_days') | int -%}
    {%- set k = var('corr_change_days') | int %}
    left join {{ ref('int_liquidity_known_at') }} as nl_now
        on nl_now.observed_at = {{ crypto }}.observed_at
    left join {{ ref('int_liquidity_known_at') }} as nl_lag
        on nl_lag.observed_at = {{ crypto }}.observed_at - interval ({{ lag_days }}) day
    left join {{ ref('int_liquidity_known_at') }} as nl_lag_prev
        on nl_lag_prev.observed_at = {{ crypto }}.observed_at - interval ({{ lag_days + k }}) day
{%- endmacro %}

{#- The net liquidity definition lagged is var('net_liquidity_definition') (macro net_liquidity_column). -#}
{% macro known_liquidity_columns() %}
    {%- set nl = net_liquidity_column() %}
        nl_now.{{ nl }}                          as net_liquidity_bn,
        nl_now.fed_total_assets_observation_date as net_liquidity_as_of,
        nl_lag.{{ nl }}                          as net_liquidity_lagged_bn,
        nl_lag_prev.{{ nl }}                     as net_liquidity_lagged_prev_bn
{%- endmacro %}

{#- ln(x / prev) where both are positive, else NULL: the k-day log change. -#}
{% macro log_change(x, prev) -%}
    case when {{ x }} > 0 and {{ prev }} > 0 then ln({{ x }} / {{ prev }}) end
{%- endmacro %}

{#-
  rolling_correlations(prefix, level, chg): for each window w of var('corr_windows'), the
  correlation of `level` with net_liquidity_lagged_bn (`<prefix>corr_levels_<w>d`) and of `chg`
  with net_liquidity_lagged_chg (`<prefix>corr_changes_<w>d`) over the window w<w>
  (rolling_windows), NULL with fewer than ceil(w * var('corr_min_obs_share')) complete pairs.
  rolling_windows(partition_by): the trailing calendar windows, this day included.
-#}
{% macro rolling_correlations(prefix, level, chg) %}
    {%- for w in var('corr_windows') %}
    {%- set min_obs = (w * var('corr_min_obs_share')) | round(0, 'ceil') | int %},
        case when regr_count({{ level }}, net_liquidity_lagged_bn) over w{{ w }} >= {{ min_obs }}
             then round(corr({{ level }}, net_liquidity_lagged_bn) over w{{ w }}, 6) end
            as {{ prefix }}corr_levels_{{ w }}d,
        case when regr_count({{ chg }}, net_liquidity_lagged_chg) over w{{ w }} >= {{ min_obs }}
             then round(corr({{ chg }}, net_liquidity_lagged_chg) over w{{ w }}, 6) end
            as {{ prefix }}corr_changes_{{ w }}d
    {%- endfor %}
{%- endmacro %}

{% macro rolling_windows(partition_by=none) %}
    window
    {%- for w in var('corr_windows') %}
        w{{ w }} as ({{ "partition by " ~ partition_by if partition_by }} order by date_day
                     range between interval {{ w - 1 }} days preceding and current row){{ "," if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{#- The output list of rolling_correlations' columns for `prefix`, levels first, in window order. -#}
{% macro correlation_columns(prefix) %}
    {%- for kind in ['levels', 'changes'] %}
    {%- for w in var('corr_windows') %},
    {{ prefix }}corr_{{ kind }}_{{ w }}d
    {%- endfor %}
    {%- endfor %}
{%- endmacro %}
