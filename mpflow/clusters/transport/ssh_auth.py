"""How mpflow authenticates on one SSH hop: its keys, the ssh-agent's, a password, and keyboard-interactive
questions (a site's second factor), in one Paramiko ``AuthStrategy``.

The methods are tried in OpenSSH's order (public keys, then keyboard-interactive, then password), and
only those the server still allows. A server that takes the key as a *partial* success and then asks
for keyboard-interactive (``AuthenticationMethods publickey,keyboard-interactive``) gets its
questions answered by a ``Prompter`` — a person at a terminal (``mpflow cluster login NAME``). Without
one nothing is sent (a guessed answer would count as a failed login at the site) and ``LoginRequired``
is raised: the cluster is unreachable with the reason "login expired: run `mpflow cluster login
NAME`", never a failure. A password set in the settings answers a question that asks for a password.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable, Sequence

import paramiko
from paramiko.auth_strategy import AuthFailure, AuthResult, AuthSource, AuthStrategy, InMemoryPrivateKey, SourceResult

from mpflow.clusters.transport.base import ClusterUnreachable

log = logging.getLogger(__name__)

Prompter = Callable[[str, str, Sequence[tuple[str, bool]]], list[str]]
"""``prompter(hop label, the server's instructions, [(question, echo), ...]) -> answers``."""


class LoginRequired(ClusterUnreachable):
    """The site asks for a second factor and nobody is here to answer: a person logs in again with
    ``mpflow cluster login NAME``. Transient (the cluster is unreachable until then), never a failure."""


def login_expired_message(cluster: str) -> str:
    return f"login expired: run `mpflow cluster login {cluster}`"


def asks_for_password(question: str, echo: bool) -> bool:
    """A keyboard-interactive question a stored password answers: no echo and it says password."""
    return not echo and "password" in question.lower()


@dataclass
class KeyboardInteractive(AuthSource):
    """Keyboard-interactive authentication, answered by the prompter (or the stored password)."""

    username: str
    label: str
    cluster: str
    prompter: Prompter | None = None
    password: str | None = None
    asked: list[str] = field(default_factory=list)

    def __post_init__(self):
        super().__init__(username=self.username)

    def __repr__(self) -> str:
        return f"KeyboardInteractive(user={self.username!r})"

    def answer(self, title: str, instructions: str, prompts: Sequence[tuple[str, bool]]) -> list[str]:
        if not prompts:
            return []
        self.asked.extend(q for q, _ in prompts)
        if self.prompter is None:
            if self.password is not None and all(asks_for_password(q, e) for q, e in prompts):
                return [self.password] * len(prompts)
            raise LoginRequired(login_expired_message(self.cluster), cluster=self.cluster)
        return list(self.prompter(self.label, "\n".join(x for x in (title, instructions) if x), prompts))

    def authenticate(self, transport):
        if self.prompter is None and self.password is None:
            # nobody can answer: ask nothing, so the site counts no failed attempt
            raise LoginRequired(login_expired_message(self.cluster), cluster=self.cluster)
        return transport.auth_interactive(self.username, self.answer)


class _Password(AuthSource):
    def __init__(self, username: str, password: str):
        super().__init__(username=username)
        self._password = password

    def __repr__(self) -> str:
        return f"Password(user={self.username!r})"  # never the password

    def authenticate(self, transport):
        return transport.auth_password(self.username, self._password)


METHOD = {InMemoryPrivateKey: "publickey", KeyboardInteractive: "keyboard-interactive", _Password: "password"}


class HopAuthentication(AuthStrategy):
    """Every way mpflow may authenticate on one hop, tried in order; a partial success goes on with
    what the server still allows (its second factor)."""

    def __init__(self, *, username: str, label: str, cluster: str, keys: Sequence[paramiko.PKey] = (),
                 password: str | None = None, prompter: Prompter | None = None):
        super().__init__(ssh_config=None)
        self.username = username
        self.keys = list(keys)
        self.password = password
        self.interactive = KeyboardInteractive(username, label, cluster, prompter, password)

    def get_sources(self):
        for key in self.keys:
            yield InMemoryPrivateKey(self.username, key)
        yield self.interactive
        if self.password is not None:
            yield _Password(self.username, self.password)

    def authenticate(self, transport):
        result = AuthResult(strategy=self)
        allowed: set[str] | None = None  # what the server allows next; None until it says
        partial = False
        for source in self.get_sources():
            method = METHOD[type(source)]
            if allowed is not None and method not in allowed:
                continue
            if method == "keyboard-interactive" and allowed is None and not partial:
                continue  # only as a second factor, or when the server names it (below)
            try:
                remaining = source.authenticate(transport)
            except paramiko.BadAuthenticationType as exc:
                allowed = set(exc.allowed_types)
                result.append(SourceResult(source, exc))
                continue
            except LoginRequired:
                raise
            except paramiko.AuthenticationException as exc:
                result.append(SourceResult(source, exc))
                continue
            result.append(SourceResult(source, remaining))
            if transport.is_authenticated():
                return result
            partial, allowed = True, set(remaining or ())
        if allowed and "keyboard-interactive" in allowed and not any(
                isinstance(r.source, KeyboardInteractive) for r in result):
            # the server never took a key but asks questions (keyboard-interactive only)
            remaining = self.interactive.authenticate(transport)
            result.append(SourceResult(self.interactive, remaining))
            if transport.is_authenticated():
                return result
        raise AuthFailure(result=result)


def agent_keys() -> list[paramiko.PKey]:
    """The keys the running ssh-agent holds (none without $SSH_AUTH_SOCK or an agent answering)."""
    try:
        return list(paramiko.Agent().get_keys())
    except (paramiko.SSHException, OSError) as exc:
        log.debug("no ssh-agent keys: %s", exc)
        return []
