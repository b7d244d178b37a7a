"""Database URLs without their passwords, for every message, log line and state file.

A database URL (``postgresql://USER:PASSWORD@HOST/DB``, the jobs database's or the Prefect server's)
may carry a password; mpflow prints, logs and records such a URL only through :func:`redact_url`, and
a message built from a driver's error through :func:`hide_password` (drivers may echo what they were
given). Standard library only.
"""

from __future__ import annotations

from urllib.parse import unquote

HIDDEN = "***"


def _split(url: str) -> tuple[str, str, str, str] | None:
    """``scheme://user:password@rest`` → (scheme, user, password, rest); None without a password."""
    scheme, sep, rest = url.partition("://")
    netloc, slash, path = rest.partition("/")
    creds, at, host = netloc.rpartition("@")
    if not sep or not at or ":" not in creds:
        return None
    user, _, password = creds.partition(":")
    return scheme, user, password, host + slash + path


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    parts = _split(url)
    if parts is None:
        return url
    scheme, user, _, rest = parts
    return f"{scheme}://{user}:{HIDDEN}@{rest}"


def url_password(url: str) -> str | None:
    parts = _split(url)
    return parts[2] if parts else None


def hide_password(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (as written and percent-decoded) replaced by ``***``."""
    password = url_password(url)
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, HIDDEN)
    return text
