-- Liquidity inputs and measures per calendar day, observation-date view (a value holds from its
-- own date until the next observation, within the catalog's max staleness). See macro liquidity_wide.
{{ liquidity_wide('obs') }}
