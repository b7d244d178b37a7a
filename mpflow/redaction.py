"""Secrets out of text: the password of any URL in a message or a log line is masked.

A database URL may carry a password (``postgresql://user:SECRET@host/db``); mpflow puts such URLs in
error messages (a missing driver, a server that does not answer), in what ``mpflow init`` and
``mpflow server start`` print, and in the server's state file. Every one of those goes through
:func:`redact`, and the command line's one-line errors pass through it once more as the last line of
defence (``mpflow.commands.common.fail``), so a password is never printed or logged.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

MASK = "***"

#: ``scheme://user:password@``: the password is everything up to the authority's last ``@``
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:)([^\s/]*)(@)")


def redact(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (the user name is kept)."""
    return _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{MASK}{m.group(3)}", text)


def redact_url(url: str) -> str:
    """One URL without its password (for printing and the server's state file)."""
    return redact(url)



def url_password(url: str) -> str | None:
    """The password written in ``url`` (None when it has none)."""
    scheme, sep, rest = url.partition("://")
    creds, at, _ = rest.partition("/")[0].rpartition("@")
    if not sep or not at or ":" not in creds:
        return None
    return creds.partition(":")[2]


def hide_password(text: str, url: str) -> str:
    """``text`` with the password of ``url`` (as written and percent-decoded) replaced by ``***``:
    for a driver's message, which may echo the password without its URL."""
    password = url_password(url)
    for secret in {password, unquote(password or "")} - {None, ""}:
        text = text.replace(secret, MASK)
    return redact(text)
