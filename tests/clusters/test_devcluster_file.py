"""The dev clusters' connection file: one default location, a format version written and checked."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from mpflow.clusters import devcluster
from mpflow.clusters.devcluster import (
    FORMAT_KEY,
    FORMAT_VERSION,
    DevClusterFormatError,
    DevClusterNotFound,
    connection_file_path,
    load_connection,
)

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "devcluster"


def load_script(monkeypatch, state: Path):
    """scripts/devcluster as a module (it has no .py suffix), with its state folder in ``state``."""
    monkeypatch.setenv(devcluster.STATE_DIR_ENV, str(state))
    monkeypatch.setenv("MPFLOW_DEVCLUSTER_USER", "root")
    loader = importlib.machinery.SourceFileLoader("devcluster_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, loader.name, module)  # dataclasses look their module up there
    loader.exec_module(module)
    return module


def test_the_location_is_defined_once_and_moved_by_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(devcluster.STATE_DIR_ENV, raising=False)
    monkeypatch.delenv(devcluster.CONNECTION_FILE_ENV, raising=False)
    assert connection_file_path() == Path(devcluster.DEFAULT_STATE_DIR) / "connection.json"
    monkeypatch.setenv(devcluster.STATE_DIR_ENV, str(tmp_path))
    assert connection_file_path() == tmp_path / "connection.json"
    monkeypatch.setenv(devcluster.CONNECTION_FILE_ENV, str(tmp_path / "elsewhere.json"))
    assert connection_file_path() == tmp_path / "elsewhere.json"


def test_the_script_writes_the_format_version_in_the_same_place(monkeypatch, tmp_path):
    script = load_script(monkeypatch, tmp_path)
    assert script.STATE == tmp_path.resolve()
    doc = script.connection_document(tmp_path / "ssh" / "id_ed25519")
    assert doc[FORMAT_KEY] == FORMAT_VERSION
    (tmp_path / "connection.json").write_text(json.dumps(doc))
    assert load_connection() == doc


@pytest.mark.parametrize("version", [None, 0, FORMAT_VERSION + 1, "1"])
def test_a_file_of_another_format_version_is_refused_with_what_to_do(tmp_path, version):
    doc = {"clusters": []} | ({} if version is None else {FORMAT_KEY: version})
    (tmp_path / "connection.json").write_text(json.dumps(doc))
    with pytest.raises(DevClusterFormatError) as info:
        load_connection(tmp_path / "connection.json")
    assert str(info.value) == (f"dev-cluster connection file {tmp_path / 'connection.json'} has {FORMAT_KEY} "
                               f"{version!r}, this mpflow reads {FORMAT_VERSION}: run `scripts/devcluster up` to "
                               f"rewrite it")
    assert isinstance(info.value, DevClusterNotFound)  # what the tests and the CLI treat as "not set up"


def test_a_missing_or_unreadable_file_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv(devcluster.CONNECTION_FILE_ENV, str(tmp_path / "none.json"))
    with pytest.raises(DevClusterNotFound, match="run `scripts/devcluster up` first"):
        load_connection()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DevClusterNotFound, match="cannot read the dev-cluster connection file"):
        load_connection(tmp_path / "bad.json")
