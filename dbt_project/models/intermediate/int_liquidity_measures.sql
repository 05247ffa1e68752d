{#-
  The liquidity inputs pivoted wide and the measures derived from them, once for every as-of view,
  so that the three wide models share exactly the same formulas. One row per (as_of_view, as_of):
    'observed'  per calendar day, observation-date view (int_series_daily obs_*)      -> int_liquidity_daily__observed
    'known'     per calendar day, as known at the end of that US-Eastern day (known_*) -> int_liquidity_daily__known
    'known_at'  per instant of int_series_at_instants, as known at that instant (UTC) -> int_liquidity_known_at
  as_of is the day (at 00:00) for the daily views and the instant for 'known_at'.

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
                                  quarter published by that day, in every view)
    bank_assets_bn              = the fresher of FRED TLAACBW027SBOG (H.8 SA) and DDP B1151NCBD (H.8 NSA)
                                  by observation date; FRED wins a tie; bank_assets_source says which
    reserves_to_bank_assets_pct = round(reserves_bn / bank_assets_bn * 100, 4)
    reserve_regime              = abundant (>= reserve_abundant_pct) | ample (>= reserve_scarce_pct) | scarce
  Fills that are facts, not guesses: ON RRP is 0 before var('on_rrp_zero_before') on days without
  an operation, BTFP is 0 before the program existed (var('btfp_start_date')).
  stale_inputs / missing_inputs: comma-separated concepts (alphabetical) whose value is NULL that
  day because the latest value is too old / because there is no observation yet; NULL when none.
-#}
{#- concept -> its value column; the pivot gives <column>, <concept>_observation_date, <concept>_status -#}
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
{#- the concepts whose status is listed in stale_inputs / missing_inputs (bank_assets: of the chosen series) -#}
{%- set tracked = ['btfp', 'effr', 'fed_total_assets', 'gdp', 'iorb', 'on_rrp', 'reserves', 'sofr', 'tga', 'tga_daily'] -%}
{%- set concepts -%}
    ({% for c in columns %}'{{ c }}'{{ ", " if not loop.last }}{% endfor %})
{%- endset -%}
with long as (
    -- GDP is dated at its quarter's start and published about a month after the quarter ends: an
    -- observation-date fill would use it up to seven months before anyone knew it. In every view
    -- it holds from its publication (as known) until the next quarter is published.
    select
        'observed'                                                                  as as_of_view,
        cast(date_day as timestamp)                                                 as as_of,
        concept,
        case when concept = 'gdp' then known_value else obs_value end               as value,
        case when concept = 'gdp' then known_observation_date else obs_observation_date end as observation_date,
        case when concept = 'gdp' then known_status else obs_status end             as status
    from {{ ref('int_series_daily') }}
    where concept in {{ concepts }}

    union all

    select 'known', cast(date_day as timestamp), concept, known_value, known_observation_date, known_status
    from {{ ref('int_series_daily') }}
    where concept in {{ concepts }}

    union all

    select 'known_at', observed_at, concept, known_value, known_observation_date, known_status
    from {{ ref('int_series_at_instants') }}
    where concept in {{ concepts }}
),

pivoted as (
    select
        as_of_view,
        as_of,
        {%- for concept, column in columns.items() %}
        max(case when concept = '{{ concept }}' then value end) as {{ column }},
        max(case when concept = '{{ concept }}' then observation_date end) as {{ concept }}_observation_date,
        coalesce(max(case when concept = '{{ concept }}' then status end), 'missing') as {{ concept }}_status
        {{- "," if not loop.last }}
        {%- endfor %}
    from long
    group by as_of_view, as_of
),

filled as (
    select
        * replace (
            case
                when on_rrp_bn is null and as_of < cast('{{ var("on_rrp_zero_before") }}' as date) then 0.0
                else on_rrp_bn
            end as on_rrp_bn,
            case
                when on_rrp_bn is null and as_of < cast('{{ var("on_rrp_zero_before") }}' as date) then 'fresh'
                else on_rrp_status
            end as on_rrp_status,
            case
                when btfp_bn is null and as_of < cast('{{ var("btfp_start_date") }}' as date) then 0.0
                else btfp_bn
            end as btfp_bn,
            case
                when btfp_bn is null and as_of < cast('{{ var("btfp_start_date") }}' as date) then 'fresh'
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
        as_of_view,
        as_of,
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
    as_of_view,
    as_of,
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
