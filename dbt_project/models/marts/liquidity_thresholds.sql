{#-
  The thresholds the marts were built with (dbt vars), as data: one row per var, so the report
  and BI tools read the numbers behind reserve_regime and the liquidity_signals flags from the
  serving file instead of re-reading dbt_project.yml.
-#}
{%- set numeric = [
    ('reserve_abundant_pct', 'pct', 'liquidity_daily.reserve_regime: abundant at or above this reserves / commercial-bank assets'),
    ('reserve_scarce_pct', 'pct', 'liquidity_daily.reserve_regime: ample at or above this, scarce below'),
    ('reserves_gdp_threshold_pct', 'pct', 'liquidity_signals.reserves_below_gdp_threshold: on below this reserves / GDP'),
    ('sofr_iorb_threshold_bp', 'bp', 'liquidity_signals.sofr_above_iorb: on above this SOFR - IORB spread'),
    ('sofr_effr_percentile', 'share', 'liquidity_signals.sofr_effr_elevated: the trailing percentile SOFR - EFFR is compared with'),
    ('sofr_effr_lookback_days', 'days', 'liquidity_signals.sofr_effr_elevated: trailing window of that percentile'),
    ('on_rrp_buffer_bn', 'usd_bn', 'liquidity_signals.on_rrp_below_buffer: on below this ON RRP balance'),
    ('standing_repo_used_min_bn', 'usd_bn', 'liquidity_signals.standing_repo_used: on above this standing repo usage'),
    ('reserves_gdp_target_pct', 'pct', 'reserve_adequacy: the reserves / GDP share to hold'),
] -%}
{%- for name, unit, used_by in numeric %}
select
    '{{ name }}' as name,
    cast({{ var(name) }} as double) as value,
    cast(null as date) as value_date,
    '{{ unit }}' as unit,
    '{{ used_by }}' as used_by
union all
{%- endfor %}
select
    'on_rrp_zero_before' as name,
    cast(null as double) as value,
    cast('{{ var("on_rrp_zero_before") }}' as date) as value_date,
    'date' as unit,
    'liquidity_daily.on_rrp_bn: 0 on days without an operation before this date (daily ON RRP operations began)' as used_by
