-- The catalog's reconciliation pairs, one row per (series, partner): each series whose catalog line
-- names other series in `reconciles_with` (space-separated ids), with both sides resolved to their
-- catalog line. Adding a pair is a catalog line only: tests/assert_ddp_week_averages_match_fred.sql
-- reads this model (the Python checks in ingest/quality.py read the same column from the CSV).
with source as (
    select * from {{ source('catalog', 'series_catalog') }}
),

renamed as (
    select
        source,
        series_id,
        unnest(string_split(trim(reconciles_with), ' ')) as partner_series_id
    from source
    where nullif(trim(reconciles_with), '') is not null
),

typed as (
    select
        cast(source as varchar)            as source,
        cast(series_id as varchar)         as series_id,
        cast(partner_series_id as varchar) as partner_series_id
    from renamed
    where partner_series_id <> ''
)

select
    typed.source,
    typed.series_id,
    series.concept,
    series.dating,
    partner.source                      as partner_source,
    typed.partner_series_id,
    partner.concept                     as partner_concept,
    partner.dating                      as partner_dating
from typed
inner join {{ ref('stg_catalog__series') }} as series
    on series.source = typed.source
    and series.series_id = typed.series_id
left join {{ ref('stg_catalog__series') }} as partner
    on partner.series_id = typed.partner_series_id
