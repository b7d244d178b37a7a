"""The route to a login node from the settings and an ssh_config file (pure: no file read, nothing opened)."""

from __future__ import annotations

from pathlib import Path

import paramiko
import pytest

from mpflow.clusters.settings import ClusterSettings, JumpHost
from mpflow.clusters.transport.base import ClusterSettingsError
from mpflow.clusters.transport.routes import read_ssh_config, resolve_route

HOME = Path("~").expanduser()

CONFIG = """
Host hpc
    HostName login.hpc.example.org
    User alice
    Port 2200
    IdentityFile ~/.ssh/id_hpc
    ProxyJump gw

Host gw
    HostName gateway.example.org
    User agw
    IdentityFile ~/.ssh/id_gw

Host inner
    HostName 10.0.0.5
    ProxyJump outer,gw:2022

Host outer
    HostName outer.example.org
    ProxyJump first

Host first
    User f

Host legacy
    ProxyCommand ssh -W %h:%p gw

Host direct
    HostName 10.1.1.1
    ProxyJump none

Host badport
    Port http
"""


def cluster(**kw) -> ClusterSettings:
    return ClusterSettings(**{"name": "c", "user": "me", "workdir": "/w", **kw})


def route(config: str | None = CONFIG, **kw):
    cfg = paramiko.SSHConfig.from_text(config) if config is not None else None
    return [(h.role, h.alias, h.host, h.port, h.user, tuple(str(k) for k in h.key_files))
            for h in resolve_route(cluster(**kw), cfg)]


@pytest.mark.parametrize("settings,expected", [
    # no config file: the settings alone, one hop
    ({"host": "hpc"}, [("login node", "hpc", "hpc", 22, "me", ())]),
    # an alias: HostName, Port, IdentityFile and ProxyJump from the file; the user set in the settings wins
    ({"host": "hpc", "_config": True}, [
        ("jump host", "gw", "gateway.example.org", 22, "agw", (f"{HOME}/.ssh/id_gw",)),
        ("login node", "hpc", "login.hpc.example.org", 2200, "me", (f"{HOME}/.ssh/id_hpc",))]),
    # settings' port and key win over the file's
    ({"host": "hpc", "port": 2201, "key_path": "/k/mine", "_config": True}, [
        ("jump host", "gw", "gateway.example.org", 22, "agw", (f"{HOME}/.ssh/id_gw",)),
        ("login node", "hpc", "login.hpc.example.org", 2201, "me", ("/k/mine",))]),
    # the settings' proxy_jump replaces the file's; a jump without user or key takes the cluster's
    ({"host": "hpc", "key_path": "/k/mine", "proxy_jump": "bob@bastion:2223", "_config": True}, [
        ("jump host", "bastion", "bastion", 2223, "bob", ("/k/mine",)),
        ("login node", "hpc", "login.hpc.example.org", 2200, "me", ("/k/mine",))]),
    # several hops, each with its own user, port and key
    ({"host": "10.0.0.9", "key_path": "/k/c",
      "proxy_jump": [{"host": "h1", "user": "u1", "port": 2001, "key_path": "/k/1"}, "u2@h2:2002"]}, [
        ("jump host 1", "h1", "h1", 2001, "u1", ("/k/1",)),
        ("jump host 2", "h2", "h2", 2002, "u2", ("/k/c",)),
        ("login node", "10.0.0.9", "10.0.0.9", 22, "me", ("/k/c",))]),
    # a jump host that has a ProxyJump of its own is reached through it first (OpenSSH does the same)
    ({"host": "inner", "_config": True}, [
        ("jump host 1", "first", "first", 22, "f", ()),
        ("jump host 2", "outer", "outer.example.org", 22, "me", ()),
        ("jump host 3", "gw", "gateway.example.org", 2022, "agw", (f"{HOME}/.ssh/id_gw",)),
        ("login node", "inner", "10.0.0.5", 22, "me", ())]),
    ({"host": "direct", "_config": True}, [("login node", "direct", "10.1.1.1", 22, "me", ())]),
])
def test_routes(settings, expected):
    settings = dict(settings)
    with_config = settings.pop("_config", False)
    assert route(CONFIG if with_config else None, **settings) == expected


def test_the_file_gives_the_user_when_the_settings_leave_it_to_the_default():
    """The user is required in the settings (squeue --user needs it); a jump host's comes from the file."""
    [jump, login] = resolve_route(cluster(host="hpc"), paramiko.SSHConfig.from_text(CONFIG))
    assert (jump.user, login.user) == ("agw", "me")
    assert jump.label == "jump host gw (agw@gateway.example.org:22)"
    assert login.label == "login node hpc (me@login.hpc.example.org:2200)"


@pytest.mark.parametrize("host,message", [
    ("legacy", "ssh_config: legacy has a ProxyCommand, which mpflow does not run; use ProxyJump in the file"),
    ("badport", "ssh_config: Port 'http' of badport is not a port number"),
])
def test_what_the_file_cannot_give_is_one_line_naming_it(host, message):
    with pytest.raises(ClusterSettingsError) as err:
        resolve_route(cluster(host=host), paramiko.SSHConfig.from_text(CONFIG))
    assert str(err.value).startswith(f"[c] {message}")
    assert err.value.setting == "ssh_config"


def test_a_loop_of_jump_hosts_is_refused():
    loop = "Host a\n    ProxyJump b\nHost b\n    ProxyJump a\n"
    with pytest.raises(ClusterSettingsError, match="a ProxyJump loop"):
        resolve_route(cluster(host="x", proxy_jump="a"), paramiko.SSHConfig.from_text(loop))


@pytest.mark.parametrize("spec,expected", [
    ("bastion", JumpHost(host="bastion")),
    ("u@bastion", JumpHost(host="bastion", user="u")),
    ("u@10.0.0.1:2223", JumpHost(host="10.0.0.1", user="u", port=2223)),
    ("[::1]:2200", JumpHost(host="::1", port=2200)),
    ("u@[fe80::1]", JumpHost(host="fe80::1", user="u")),
])
def test_jump_specs_as_ssh_J_takes_them(spec, expected):
    assert JumpHost.parse(spec) == expected


@pytest.mark.parametrize("spec,message", [
    ("h:port", "the port must be a number"),
    ("bad user@h", "proxy_jump user"),
    ("u@h;rm", "proxy_jump host"),
])
def test_bad_jump_specs_are_refused_naming_the_field(spec, message):
    with pytest.raises(ValueError, match=message):
        cluster(host="x", proxy_jump=spec)


def test_the_config_file_is_read_only_when_there(tmp_path):
    assert read_ssh_config(cluster(host="x", ssh_config=None)) is None
    with pytest.raises(ClusterSettingsError, match=r"ssh_config .*/nope is not a readable file"):
        read_ssh_config(cluster(host="x", ssh_config=tmp_path / "nope"))
    (tmp_path / "config").write_text(CONFIG)
    assert read_ssh_config(cluster(host="x", ssh_config=tmp_path / "config")).lookup("gw")["user"] == "agw"
