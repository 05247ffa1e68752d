-- Cross-source reconciliation: the H.4.1 DDP week averages equal FRED's WTREGEN and WRESBAL, and
-- DDP total assets (RESPPMA_N.WW) equals WALCL, on every common date (to 1 million USD).
-- Returns the disagreeing rows; passes when a source has no data.
with observations as (
    select concept, observation_date, value
    from {{ ref('int_series_observations') }}
),

pairs as (
    select 'tga_ddp' as ddp_concept, 'tga' as fred_concept
    union all select 'reserves_ddp', 'reserves'
    union all select 'fed_total_assets_ddp', 'fed_total_assets'
)

select
    pairs.ddp_concept,
    pairs.fred_concept,
    ddp.observation_date,
    ddp.value  as ddp_value_bn,
    fred.value as fred_value_bn
from pairs
inner join observations as ddp  on ddp.concept = pairs.ddp_concept
inner join observations as fred on fred.concept = pairs.fred_concept
    and fred.observation_date = ddp.observation_date
where abs(ddp.value - fred.value) > 0.001
