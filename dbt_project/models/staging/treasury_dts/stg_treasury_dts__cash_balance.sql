-- Daily Treasury Statement, Table I (operating cash balance): every row as published, typed, with
-- the TGA balance picked out of whichever row held it in its label era (millions USD, as published):
--   to 2021-09-30             'Federal Reserve Account', balance in close_today_bal
--   2021-10-01 .. 2022-04-15  'Treasury General Account (TGA)', balance in close_today_bal
--   from 2022-04-18           separate '... Opening Balance' and '... Closing Balance' rows; the
--                             closing balance is in open_today_bal (close_today_bal is "null")
-- The loader asks for these three labels only (ingest/treasury_dts.py TGA_ROWS). Other Table I rows
-- (Supplementary Financing Program Account, Short-Term Cash Investments, deposits and withdrawals),
-- which a warehouse loaded before that may hold, are not the TGA balance: their series_id and
-- tga_close_millions are NULL.
with source as (
    select * from {{ source('treasury_dts', 'treasury_dts_cash_balance') }}
),

renamed as (
    select
        observation_date,
        account_type,
        close_today_bal,
        open_today_bal,
        open_month_bal,
        open_fiscal_year_bal,
        table_nbr,
        sub_table_name,
        src_line_nbr,
        known_on,
        known_at
    from source
),

typed as (
    select
        cast(observation_date as date)        as observation_date,
        cast(account_type as varchar)         as account_type,
        cast(close_today_bal as double)       as close_today_bal,
        cast(open_today_bal as double)        as open_today_bal,
        cast(open_month_bal as double)        as open_month_bal,
        cast(open_fiscal_year_bal as double)  as open_fiscal_year_bal,
        cast(table_nbr as varchar)            as table_nbr,
        cast(sub_table_name as varchar)       as sub_table_name,
        cast(src_line_nbr as integer)         as src_line_nbr,
        cast(known_on as date)                as known_on,
        cast(known_at as timestamp)           as known_at
    from renamed
),

labelled as (
    select
        *,
        case account_type
            when 'Federal Reserve Account' then 'federal_reserve_account'
            when 'Treasury General Account (TGA)' then 'tga'
            when 'Treasury General Account (TGA) Closing Balance' then 'tga_closing_balance_row'
        end as tga_label_era
    from typed
)

select
    *,
    case when tga_label_era is not null then 'DTS_TGA_CLOSE' end as series_id,
    case tga_label_era
        when 'tga_closing_balance_row' then open_today_bal
        when 'federal_reserve_account' then close_today_bal
        when 'tga' then close_today_bal
    end as tga_close_millions
from labelled
