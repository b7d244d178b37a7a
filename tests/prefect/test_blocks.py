"""The cluster block in a real Prefect API (no cluster needed), and which task failures are retried."""

from __future__ import annotations

import os
import subprocess
import sys

from mpflow.blocks.cluster import SlurmCluster
from mpflow.tasks.manager import transient_only
from prefect.states import Completed, Failed
from pydantic import SecretStr
from typer.testing import CliRunner

from mpflow.cli import app
from mpflow.clusters.transport import (
    ClusterSettingsError,
    ClusterUnreachable,
    CommandTimeout,
)
from mpflow.slurm.commands import SchedulerError

SETTINGS = dict(name="gamma", kind="remote", host="login.example.org", user="me", workdir="/scratch/me/mpflow-work")


def test_block_type_registers_with_the_prefect_cli(prefect_api):
    env = {**os.environ, "PREFECT_API_URL": prefect_api}
    res = subprocess.run([sys.executable, "-m", "prefect", "block", "register", "-m", "mpflow.blocks.cluster"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "mpflow Slurm cluster" in res.stdout


def test_secrets_are_stored_but_never_shown(prefect_api):
    block = SlurmCluster(**SETTINGS, password=SecretStr("hunter2-do-not-print"))
    block.save("with-secret", overwrite=True)
    loaded = SlurmCluster.load("with-secret")
    assert loaded.password.get_secret_value() == "hunter2-do-not-print"
    assert "hunter2" not in repr(loaded) and "hunter2" not in str(loaded.settings())
    assert "hunter2" not in loaded.settings().describe()


def test_cluster_check_of_a_block_with_invalid_settings_is_one_line(prefect_api):
    """A block saved before a check existed (or edited by hand) is refused when loaded, naming the field."""
    SlurmCluster.model_construct(**{**SETTINGS, "workdir": "/scratch/me/my work"}).save("old-block", overwrite=True)
    result = CliRunner().invoke(app, ["cluster", "check", "old-block"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: cluster block 'old-block' has invalid settings: workdir '/scratch/me/my work' has characters a job "
        "script cannot carry (spaces, quotes, newlines, shell characters): use only A-Z, a-z, 0-9, '_', '.', ',', "
        "':', '=', '@', '%', '+', '-' and '/'"]
    missing = CliRunner().invoke(app, ["cluster", "check", "no-such-block"])
    assert missing.exit_code == 2 and missing.output.startswith("error: no mpflow-slurm-cluster block named "
                                                                "'no-such-block'")


def test_cluster_check_of_a_block_with_an_owned_extra_sbatch_flag_names_the_flag(prefect_api):
    """Issue 24, item 12: an extra_sbatch flag mpflow owns, saved in a block before the check existed,
    is refused when the block is loaded (by `cluster check` and by every command), naming the flag."""
    SlurmCluster.model_construct(**SETTINGS, stage_resources={"urmd": {"extra_sbatch": {"out": "x.log"}}}
                                 ).save("owned-flag", overwrite=True)
    result = CliRunner().invoke(app, ["cluster", "check", "owned-flag"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "error: cluster block 'owned-flag' has invalid settings: stage_resources['urmd'].extra_sbatch: --out would "
        "set --output, which mpflow sets itself"]


def test_transient_only_retries_unreachable_and_timeouts_but_not_other_errors():
    assert transient_only(None, None, Failed(data=ClusterUnreachable("down", cluster="beta")))
    assert transient_only(None, None, Failed(data=CommandTimeout("slow", cluster="beta")))
    assert not transient_only(None, None, Failed(data=ClusterSettingsError("key_path x does not exist",
                                                                           setting="key_path", cluster="beta")))
    assert not transient_only(None, None, Failed(data=SchedulerError("sbatch failed", cluster="beta")))
    assert not transient_only(None, None, Failed(data=ValueError("bad option")))
    assert not transient_only(None, None, Completed(data=1))
