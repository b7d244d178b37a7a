"""The route to a login node: every SSH hop (jump hosts, then the login node), resolved from a cluster's
settings and the OpenSSH client config file, as plain data.

``resolve_route(settings, config)`` is pure: it reads no file and opens nothing. For each hop it
gives the address, port, user and key files to use, and where each came from, so a failure can name
the hop and the setting. The rules, as OpenSSH's client follows them for the same file:

- the cluster's own settings win; what they leave unset comes from the config file's entry for the
  host as written (a ``Host`` alias): ``HostName``, ``Port``, ``User``, ``IdentityFile``,
  ``ProxyJump``, ``UserKnownHostsFile``;
- each jump host named by ``ProxyJump`` (or by the settings' ``proxy_jump``) is itself looked up in
  the file, so a jump alias brings its own HostName, User, Port and IdentityFile; what is still unset
  falls back to the cluster's user and key;
- ``ProxyJump none`` means no jump host; ``ProxyCommand`` is refused (one line saying to use
  ProxyJump), since a shell command from a config file is not something the manager runs;
- settings that would weaken the host-key check (``StrictHostKeyChecking no``) are not taken from
  the file: host keys are verified on every hop unless the cluster's ``verify_host_key`` is off.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import paramiko

from mpflow.clusters.settings import ClusterSettings, JumpHost
from mpflow.clusters.transport.base import ClusterSettingsError

DEFAULT_SSH_CONFIG = Path("~/.ssh/config")
MAX_HOPS = 8
"""More jump hosts than this is a loop in the config file (a ProxyJump naming its own host)."""


@dataclass(frozen=True)
class Hop:
    """One SSH connection of a route."""

    role: str  # "jump host 1", "jump host 2", ..., "login node"
    alias: str  # the host as written (settings or ProxyJump), before HostName
    host: str  # the address connected to
    port: int
    user: str
    key_files: tuple[Path, ...] = ()
    known_hosts: tuple[Path, ...] = ()  # UserKnownHostsFile of the config file's entry, if any
    from_settings: bool = False  # a jump host whose key was given in the settings' proxy_jump

    @property
    def address(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"

    @property
    def label(self) -> str:
        """``jump host 1 bastion (dev@10.0.0.1:22)``: how errors name the hop."""
        name = f" {self.alias}" if self.alias != self.host else ""
        return f"{self.role}{name} ({self.address})"


def read_ssh_config(settings: ClusterSettings) -> paramiko.SSHConfig | None:
    """The cluster's ssh_config file parsed, or None (no file named, or the default one is absent).
    A file named in the settings that is missing or malformed is a ``ClusterSettingsError``."""
    if settings.ssh_config is None:
        return None
    path = Path(settings.ssh_config).expanduser()
    default = Path(settings.ssh_config) == DEFAULT_SSH_CONFIG
    if not path.is_file():
        if default and not path.exists():
            return None
        raise ClusterSettingsError(f"ssh_config {path} is not a readable file", setting="ssh_config",
                                   cluster=settings.name, hint="fix the cluster's `ssh_config` (or set it to none)")
    try:
        return paramiko.SSHConfig.from_text(path.read_text())
    except (OSError, UnicodeDecodeError, paramiko.ConfigParseError) as exc:
        raise ClusterSettingsError(f"ssh_config {path} cannot be read ({exc})", setting="ssh_config",
                                   cluster=settings.name, hint="fix the file or the cluster's `ssh_config`") from exc


def _lookup(config: paramiko.SSHConfig | None, host: str) -> dict:
    return dict(config.lookup(host)) if config is not None else {}


def _paths(values) -> tuple[Path, ...]:
    if not values:
        return ()
    if isinstance(values, str):
        values = values.split()
    return tuple(Path(v).expanduser() for v in values)


def _port(entry: dict, cluster: str, host: str) -> int | None:
    text = entry.get("port")
    if text is None:
        return None
    if not str(text).isdigit() or not 0 < int(text) < 65536:
        raise ClusterSettingsError(f"ssh_config: Port {text!r} of {host} is not a port number", setting="ssh_config",
                                   cluster=cluster)
    return int(text)


def _refuse_proxy_command(entry: dict, cluster: str, host: str) -> None:
    if entry.get("proxycommand") and entry["proxycommand"].lower() != "none":
        raise ClusterSettingsError(f"ssh_config: {host} has a ProxyCommand, which mpflow does not run",
                                   setting="ssh_config", cluster=cluster,
                                   hint="use ProxyJump in the file, or the cluster's `proxy_jump`")


def _config_jumps(entry: dict) -> list[JumpHost]:
    text = (entry.get("proxyjump") or "").strip()
    if not text or text.lower() == "none":
        return []
    return [JumpHost.parse(spec) for spec in text.split(",") if spec.strip()]


def resolve_route(settings: ClusterSettings, config: paramiko.SSHConfig | None = None) -> tuple[Hop, ...]:
    """Every hop from this machine to the cluster's login node, the login node last."""
    explicit = settings.model_fields_set
    cluster_key = (Path(settings.key_path).expanduser(),) if settings.key_path else ()
    entry = _lookup(config, settings.host)
    _refuse_proxy_command(entry, settings.name, settings.host)

    jumps = list(settings.proxy_jump) if "proxy_jump" in explicit else _config_jumps(entry)
    if len(jumps) > MAX_HOPS:
        raise ClusterSettingsError(f"{len(jumps)} jump hosts: at most {MAX_HOPS}", setting="proxy_jump",
                                   cluster=settings.name)
    hops = []
    for i, jump in enumerate(jumps, 1):
        jentry = _lookup(config, jump.host)
        _refuse_proxy_command(jentry, settings.name, jump.host)
        if i == 1:  # the first jump host reached through a ProxyJump of its own: those hops come first
            hops.extend(_nested(config, jentry, settings, cluster_key, depth=1))
        hops.append(Hop(
            role="", alias=jump.host, host=jentry.get("hostname", jump.host),
            port=jump.port or _port(jentry, settings.name, jump.host) or 22,
            user=jump.user or jentry.get("user") or settings.user,
            key_files=(Path(jump.key_path).expanduser(),) if jump.key_path else
            (_paths(jentry.get("identityfile")) or cluster_key),
            known_hosts=_paths(jentry.get("userknownhostsfile")), from_settings=bool(jump.key_path),
        ))
    hops.append(Hop(
        role="login node", alias=settings.host, host=entry.get("hostname", settings.host),
        port=settings.port if "port" in explicit else (_port(entry, settings.name, settings.host) or settings.port),
        user=settings.user if "user" in explicit or not entry.get("user") else entry["user"],
        key_files=cluster_key if "key_path" in explicit else (_paths(entry.get("identityfile")) or cluster_key),
        known_hosts=_paths(entry.get("userknownhostsfile")),
    ))
    if len(hops) > MAX_HOPS + 1:
        raise ClusterSettingsError(f"ssh_config: more than {MAX_HOPS} jump hosts to {settings.host} (a ProxyJump "
                                   "loop?)", setting="ssh_config", cluster=settings.name)
    n = len(hops) - 1
    return tuple(h if h.role else replace(h, role=f"jump host {i}" if n > 1 else "jump host")
                 for i, h in enumerate(hops, 1))


def _nested(config, entry: dict, settings: ClusterSettings, cluster_key, depth: int) -> list[Hop]:
    """The jump hosts before a jump host that has a ProxyJump of its own in the config file."""
    if depth > MAX_HOPS:
        raise ClusterSettingsError(f"ssh_config: more than {MAX_HOPS} jump hosts to {settings.host} (a ProxyJump "
                                   "loop?)", setting="ssh_config", cluster=settings.name)
    out: list[Hop] = []
    for jump in _config_jumps(entry):
        jentry = _lookup(config, jump.host)
        _refuse_proxy_command(jentry, settings.name, jump.host)
        out.extend(_nested(config, jentry, settings, cluster_key, depth + 1))
        out.append(Hop(role="", alias=jump.host, host=jentry.get("hostname", jump.host),
                       port=jump.port or _port(jentry, settings.name, jump.host) or 22,
                       user=jump.user or jentry.get("user") or settings.user,
                       key_files=_paths(jentry.get("identityfile")) or cluster_key,
                       known_hosts=_paths(jentry.get("userknownhostsfile"))))
    return out
