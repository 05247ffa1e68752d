"""Errors that name the source, the series and the reason, and never carry a secret."""

from __future__ import annotations

import re

REDACTED = "***"


class SourceError(Exception):
    """A failure fetching or parsing one series of one source.

    The message always reads ``<source> <series>: <reason>``. It is built from scratch by our
    code, never from a library exception's text (which may contain a URL with an API key).
    """

    def __init__(self, source: str, series: str | None, reason: str):
        self.source = source
        self.series = series
        self.reason = reason
        where = f"{source} {series}" if series else source
        super().__init__(f"{where}: {reason}")


class HttpError(SourceError):
    """A non-success HTTP status after retries (or a non-retryable status)."""

    def __init__(self, source: str, series: str | None, reason: str, status: int | None = None):
        super().__init__(source, series, reason)
        self.status = status


class PayloadError(SourceError):
    """The body arrived but is not what the source should send (HTML, wrong header, bad numbers)."""


class NetworkUnreachable(SourceError):
    """No connection could be made at all: fail fast and point at the offline setting."""


class InvalidIdentifier(ValueError):
    """A series or coin id that could escape a path, a URL or an SQL statement."""


_SERIES_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]{0,63}$")
_COIN_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")


def check_series_id(series_id: str) -> str:
    if not isinstance(series_id, str) or not _SERIES_ID.match(series_id) or ".." in series_id:
        raise InvalidIdentifier(
            f"rejected series id {series_id!r}: only letters, digits, '_' and '.' allowed"
        )
    return series_id


def check_coin_id(coin_id: str) -> str:
    if not isinstance(coin_id, str) or not _COIN_ID.match(coin_id):
        raise InvalidIdentifier(
            f"rejected coin id {coin_id!r}: only lower-case letters, digits and '-' allowed"
        )
    return coin_id


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret (and api_key=... query values) in text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return re.sub(r"(?i)(api_key|x_cg_(?:demo|pro)_api_key)=[^&\s'\"]+", rf"\1={REDACTED}", text)
