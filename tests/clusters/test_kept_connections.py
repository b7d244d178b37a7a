"""Connections kept across ticks: the same transport tick after tick, a new one when a cluster's settings
change, none for a cluster that left the project (local transports: no cluster needed)."""

from __future__ import annotations

from mpflow.clusters.connections import KeptConnections
from mpflow.clusters.settings import ClusterSettings


def local(name: str, tmp_path, **kw) -> ClusterSettings:
    (tmp_path / name).mkdir(exist_ok=True)
    return ClusterSettings(name=name, kind="local", workdir=str(tmp_path / name), **kw)


def test_a_tick_leaves_the_transports_open_for_the_next(tmp_path):
    a, b = local("a", tmp_path), local("b", tmp_path)
    conns = KeptConnections([a, b])
    with conns.for_tick([a, b]):
        first = conns.transport("a"), conns.transport("b")
    with conns.for_tick([a, b]):
        assert (conns.transport("a"), conns.transport("b")) == first
    edited = a.model_copy(update={"max_queued": 5})  # the block edited between ticks
    with conns.for_tick([edited]):
        assert conns.transport("a") is not first[0] and conns.transport("a").settings == edited
        assert "b" not in conns._open  # b left the project: its transport is closed
    assert conns.logins() == {"a": 0, "b": 0}  # local clusters log in nowhere
    conns.close()
    assert conns._open == {}
