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


MAX_ID_LENGTH = 64
_SERIES_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.]*$")
_COIN_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def shown(value: object, limit: int = 40) -> str:
    """A user-supplied value as quoted in a message: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(str(value)):,} characters)"


def _check_id(value: object, kind: str, pattern: re.Pattern, allowed: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidIdentifier(f"rejected {kind} id {shown(value)}: empty or not text")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidIdentifier(f"rejected {kind} id {shown(value)}: longer than {MAX_ID_LENGTH} characters")
    if not pattern.match(value) or ".." in value:
        raise InvalidIdentifier(f"rejected {kind} id {shown(value)}: {allowed}")


def check_series_id(series_id: str) -> str:
    _check_id(series_id, "series", _SERIES_ID, "only letters, digits, '_' and '.' allowed")
    return series_id


def check_coin_id(coin_id: str) -> str:
    _check_id(coin_id, "coin", _COIN_ID, "only lower-case letters, digits and '-' allowed")
    return coin_id


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret (and api_key=... query values) in text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return re.sub(r"(?i)(api_key|x_cg_(?:demo|pro)_api_key)=[^&\s'\"]+", rf"\1={REDACTED}", text)
