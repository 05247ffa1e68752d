-- Liquidity inputs and measures per calendar day, as known at the end of that US-Eastern day
-- (release-aware: only observations with known_on <= day). See macro liquidity_wide.
{{ liquidity_wide('known') }}
