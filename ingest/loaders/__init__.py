"""One loader per raw table (see ingest/registry.py): `load(ctx, only=None, window=None) -> SourceLoad`.

`only` restricts the load to some series (catalog ids or coin ids); `window` (start, end) asks the
source for exactly that date range instead of the watermark window: a backfill is this same call."""
