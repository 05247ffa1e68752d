{#-
  Pivot a long per-concept model (`model`, default int_series_daily) to one row per `key` (default
  date_day) for one as-of view ('obs' = observation-date view, 'known' = as-known view) and derive
  the liquidity measures. The daily wide models and int_liquidity_known_at (one row per instant,
  key observed_at, from int_series_at_instants) all call this macro, so every view shares exactly
  the same formulas.

  Derived measures:
    net_liquidity_bn            = fed_total_assets_bn - tga_bn - on_rrp_bn (WALCL Wednesday level minus
                                  WTREGEN week average minus ON RRP daily)
    net_liquidity_daily_bn      = fed_total_assets_bn - tga_daily_bn - on_rrp_bn (the TGA term is the
                                  Daily Treasury Statement's closing balance of the day, concept
                                  tga_daily; NULL before the DTS history or when it is stale, never
                                  the weekly value in its place)
    sofr_iorb_spread_bp         = round((sofr_pct - iorb_pct) * 100, 2)
    sofr_effr_spread_bp         = round((sofr_pct - effr_pct) * 100, 2)
    reserves_to_gdp_pct         = round(reserves_bn / gdp_bn * 100, 4)   (GDP is SAAR, always the latest
                                  quarter published by that day, in both views)
    bank_assets_bn              = the fresher of FRED TLAACBW027SBOG (H.8 SA) and DDP B1151NCBD (H.8 NSA)
                                  by observation date; FRED wins a tie; bank_assets_source says which
    reserves_to_bank_assets_pct = round(reserves_bn / bank_assets_bn * 100, 4)
    reserve_regime              = abundant (>= reserve_abundant_pct) | ample (>= reserve_scarce_pct) | scarce
  Fills that are facts, not guesses: ON RRP is 0 before var('on_rrp_zero_before') on days without
  an operation, BTFP is 0 before the program existed (var('btfp_start_date')).
  stale_inputs / missing_inputs: comma-separated concepts (alphabetical) whose value is NULL that
  day because the latest value is too old / because there is no observation yet; NULL when none.
-#}
{% macro liquidity_wide(view, model='int_series_daily', key='date_day') %}
{%- set columns = {
    'fed_total_assets': 'fed_total_assets_bn',
    'tga': 'tga_bn',
    'tga_daily': 'tga_daily_bn',
    'on_rrp': 'on_rrp_bn',
    'reserves': 'reserves_bn',
    'btfp': 'btfp_bn',
    'sofr': 'sofr_pct',
    'iorb': 'iorb_pct',
    'effr': 'effr_pct',
    'gdp': 'gdp_bn',
    'bank_assets': 'bank_assets_fred_bn',
    'bank_assets_h8': 'bank_assets_h8_bn',
    'standing_repo': 'standing_repo_bn',
} -%}
{#- GDP is dated at its quarter's start and published about a month after the quarter ends: an
    observation-date fill would use it up to seven months before anyone knew it. In both views it
    holds from its publication (as-known) until the next quarter is published. -#}
{%- set always_known = ['gdp'] -%}
{%- set tracked = ['btfp', 'effr', 'fed_total_assets', 'gdp', 'iorb', 'on_rrp', 'reserves', 'sofr', 'tga', 'tga_daily'] -%}
with long as (
    select * from {{ ref(model) }}
    where concept in ({% for c in columns %}'{{ c }}'{{ ", " if not loop.last }}{% endfor %})
),

pivoted as (
    select
        {{ key }},
        {%- for concept, column in columns.items() %}
        {%- set v = 'known' if concept in always_known else view %}
        max(case when concept = '{{ concept }}' then {{ v }}_value end) as {{ column }},
        max(case when concept = '{{ concept }}' then {{ v }}_observation_date end) as {{ concept }}_observation_date,
        coalesce(max(case when concept = '{{ concept }}' then {{ v }}_status end), 'missing') as {{ concept }}_status
        {{- "," if not loop.last }}
        {%- endfor %}
    from long
    group by {{ key }}
),

filled as (
    select
        * replace (
            case
                when on_rrp_bn is null and {{ key }} < cast('{{ var("on_rrp_zero_before") }}' as date) then 0.0
                else on_rrp_bn
            end as on_rrp_bn,
            case
                when on_rrp_bn is null and {{ key }} < cast('{{ var("on_rrp_zero_before") }}' as date) then 'fresh'
                else on_rrp_status
            end as on_rrp_status,
            case
                when btfp_bn is null and {{ key }} < cast('{{ var("btfp_start_date") }}' as date) then 0.0
                else btfp_bn
            end as btfp_bn,
            case
                when btfp_bn is null and {{ key }} < cast('{{ var("btfp_start_date") }}' as date) then 'fresh'
                else btfp_status
            end as btfp_status
        )
    from pivoted
),

bank_assets as (
    select
        *,
        case
            when bank_assets_fred_bn is not null
                 and (bank_assets_h8_bn is null or bank_assets_observation_date >= bank_assets_h8_observation_date)
                then 'TLAACBW027SBOG'
            when bank_assets_h8_bn is not null then 'B1151NCBD'
        end as bank_assets_source
    from filled
),

derived as (
    select
        {{ key }},
        fed_total_assets_bn,
        fed_total_assets_observation_date,
        tga_bn,
        on_rrp_bn,
        reserves_bn,
        round(fed_total_assets_bn - tga_bn - on_rrp_bn, 6)        as net_liquidity_bn,
        tga_daily_bn,
        tga_daily_observation_date,
        round(fed_total_assets_bn - tga_daily_bn - on_rrp_bn, 6)  as net_liquidity_daily_bn,
        btfp_bn,
        sofr_pct,
        iorb_pct,
        effr_pct,
        round((sofr_pct - iorb_pct) * 100, 2)                     as sofr_iorb_spread_bp,
        round((sofr_pct - effr_pct) * 100, 2)                     as sofr_effr_spread_bp,
        gdp_bn,
        gdp_observation_date,
        round(reserves_bn / nullif(gdp_bn, 0) * 100, 4)           as reserves_to_gdp_pct,
        case bank_assets_source
            when 'TLAACBW027SBOG' then bank_assets_fred_bn
            when 'B1151NCBD' then bank_assets_h8_bn
        end                                                       as bank_assets_bn,
        bank_assets_source,
        case bank_assets_source
            when 'TLAACBW027SBOG' then bank_assets_observation_date
            when 'B1151NCBD' then bank_assets_h8_observation_date
        end                                                       as bank_assets_observation_date,
        standing_repo_bn,
        {%- for concept in tracked %}
        {{ concept }}_status,
        {%- endfor %}
        case
            when bank_assets_source is not null then 'fresh'
            when 'stale' in (bank_assets_status, bank_assets_h8_status) then 'stale'
            else 'missing'
        end                                                       as bank_assets_status
    from bank_assets
),

ratios as (
    select
        *,
        round(reserves_bn / nullif(bank_assets_bn, 0) * 100, 4)   as reserves_to_bank_assets_pct
    from derived
)

select
    {{ key }},
    fed_total_assets_bn,
    fed_total_assets_observation_date,
    tga_bn,
    on_rrp_bn,
    reserves_bn,
    net_liquidity_bn,
    tga_daily_bn,
    tga_daily_observation_date,
    net_liquidity_daily_bn,
    btfp_bn,
    sofr_pct,
    iorb_pct,
    effr_pct,
    sofr_iorb_spread_bp,
    sofr_effr_spread_bp,
    gdp_bn,
    gdp_observation_date,
    reserves_to_gdp_pct,
    bank_assets_bn,
    bank_assets_source,
    bank_assets_observation_date,
    reserves_to_bank_assets_pct,
    case
        when reserves_to_bank_assets_pct is null then null
        when reserves_to_bank_assets_pct >= {{ var('reserve_abundant_pct') }} then 'abundant'
        when reserves_to_bank_assets_pct >= {{ var('reserve_scarce_pct') }} then 'ample'
        else 'scarce'
    end as reserve_regime,
    standing_repo_bn,
    nullif(concat_ws(','
        {%- for concept in (tracked + ['bank_assets']) | sort %},
        case when {{ concept }}_status = 'stale' then '{{ concept }}' end
        {%- endfor %}
    ), '') as stale_inputs,
    nullif(concat_ws(','
        {%- for concept in (tracked + ['bank_assets']) | sort %},
        case when {{ concept }}_status = 'missing' then '{{ concept }}' end
        {%- endfor %}
    ), '') as missing_inputs
from ratios
{% endmacro %}
