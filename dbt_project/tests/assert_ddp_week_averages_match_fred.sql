-- Cross-source reconciliation: a series and the partner its catalog line names in `reconciles_with`
-- (stg_catalog__reconciliations) under the same dating are the same number published twice, so they
-- must agree on every common date, to the published unit: the H.4.1 DDP week averages and FRED's
-- WTREGEN and WRESBAL, the DDP Wednesday TGA and WDTGAL, DDP total assets (RESPPMA_N.WW) and WALCL.
-- Pairs of different dating (the DTS daily close against a Wednesday level or a week average) need
-- a carried or averaged close: the Python check dts_reconciliation compares those.
-- Both are published in whole millions, so any real difference is at least 0.001 bn; half of it is
-- the threshold, so float noise never decides (the Python check compares to $1000, the same verdict).
-- Returns the disagreeing rows; passes when a source has no data. In Dagster it is an asset check of
-- int_series_observations, the long table of every catalog series (the one reconciliation check).
{{ config(meta={'dagster': {'ref': {'name': 'int_series_observations'}}}) }}
with pairs as (
    select *
    from {{ ref('stg_catalog__reconciliations') }}
    where dating = partner_dating
),

observations as (
    select source, series_id, observation_date, value
    from {{ ref('int_series_observations') }}
)

select
    pairs.concept                  as series_concept,
    pairs.partner_concept,
    series.observation_date,
    series.value                   as series_value_bn,
    partner.value                  as partner_value_bn
from pairs
inner join observations as series
    on series.source = pairs.source
    and series.series_id = pairs.series_id
inner join observations as partner
    on partner.source = pairs.partner_source
    and partner.series_id = pairs.partner_series_id
    and partner.observation_date = series.observation_date
where abs(series.value - partner.value) > 0.0005
