-- Liquidity inputs and measures AS KNOWN AT each instant of int_series_at_instants (UTC): only
-- observations released (known_at) by then. One row per instant, key observed_at. See macro liquidity_wide.
{{ liquidity_wide('known', 'int_series_at_instants', 'observed_at') }}
