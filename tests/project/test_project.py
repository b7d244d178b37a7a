"""The project file: init writes one that loads, typos and broken stage graphs are one-line errors."""

import json
import tomllib

import pytest

from mpflow.clusters.devcluster import CONNECTION_FILE_ENV, FORMAT_KEY, FORMAT_VERSION
from mpflow.project.file import PROJECT_FILE, Project, ProjectError, init_project


def test_init_writes_a_project_that_loads_with_the_default_stages(tmp_path):
    project = init_project(tmp_path / "p", dev=True)
    assert project.cluster_names == ["alpha", "beta"]
    assert project.config.clusters.source == "dev"
    assert project.config.stage_order() == ["prep", "emmd", "prmd", "urmd"]
    assert project.database_url == f"sqlite:///{(tmp_path / 'p' / 'mpflow.db').resolve()}"
    assert "# the master first" in (tmp_path / "p" / PROJECT_FILE).read_text()


def test_a_project_takes_any_number_of_clusters_the_master_first(tmp_path):
    """Issue 20, item 1: no limit of two; the order is the project's (the master first)."""
    names = ["gamma", "alpha", "beta", "delta", "epsilon"]
    project = init_project(tmp_path / "p", clusters=names)
    assert project.cluster_names == names
    assert Project.load(tmp_path / "p").cluster_names == names


def test_init_refuses_a_bad_cluster_list_in_one_line(tmp_path):
    with pytest.raises(ProjectError, match="cluster names must be distinct"):
        init_project(tmp_path / "p", clusters=["alpha", "alpha"])
    with pytest.raises(ProjectError, match="'a b' is not a valid cluster name"):
        init_project(tmp_path / "q", clusters=["alpha", "a b"])
    assert not (tmp_path / "p").exists() and not (tmp_path / "q").exists()


def test_init_refuses_an_existing_project(tmp_path):
    init_project(tmp_path, dev=True)
    with pytest.raises(ProjectError, match="already exists"):
        init_project(tmp_path, dev=True)


def _write(tmp_path, text):
    (tmp_path / PROJECT_FILE).write_text(text)
    return tmp_path


BASE = '[clusters]\nsource = "dev"\nnames = ["alpha", "beta"]\n'
PREP = '[stages.prep]\nkind = "protocol"\nprotocol = "prep"\n'


@pytest.mark.parametrize("text,message", [
    (BASE + "[manager]\nintervl_s = 3\n", "manager.intervl_s: unknown key (a typo?)"),
    (BASE + '[stages.emmd]\nkind = "gromacs"\nnsteps = 10\n', "stages.emmd: names no template: set mdp"),
    (BASE + '[stages.probe]\nkind = "script"\n', "stages.probe: names no template: set commands"),
    (BASE + '[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = 0\n', "stages.emmd.nsteps: Input should be greater than 0"),
    (BASE + '[stages.b]\nkind = "script"\ncommands = ["true"]\nafter = "nope"\n', "stages.b.after: no stage named 'nope'"),
    (BASE + '[mutants.GpA]\nsequence = "EPEITLXB"\n', "mutants.GpA.sequence: has 'B', 'X'"),
    ('[clusters]\nsource = "cloud"\nnames = ["a"]\n', "clusters.source: Input should be 'dev' or 'blocks'"),
    (BASE + '[notify]\non = ["held"]\n', "notify: give exactly one of webhook (a URL) or block"),
    (BASE + '[notify]\nwebhook = "ftp://x"\n', "notify: webhook 'ftp://x' must be an http:// or https:// URL"),
    (BASE + '[notify]\nblock = "slack"\n', "notify: block 'slack' must be TYPE/NAME, e.g. slack-webhook/lab"),
    (BASE + '[notify]\nblock = "slack-webhook/lab"\non = ["late"]\n', "notify.on.0: Input should be 'held', "),
    (BASE + '[notify]\nwebhook = "http://h/x"\nunreachable_min = 0.1\n',
     "notify.unreachable_min: Input should be greater than or equal to 0.16"),
    ('[clusters]\nnames = ["a", "a"]\n', "clusters.names: cluster names must be distinct"),
    ("[clusters\n", "not valid TOML"),
    # issue 24, item 5: strict integers with bounds; nothing is converted (true is not 1 step)
    (BASE + '[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = 99999999999999999999\n',
     "stages.emmd.nsteps: Input should be less than or equal to 1000000000000"),
    (BASE + '[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = true\n',
     "stages.emmd.nsteps: Input should be a valid integer"),
    (BASE + '[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = 10.0\n',
     "stages.emmd.nsteps: Input should be a valid integer"),
    (BASE + '[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = "500"\n',
     "stages.emmd.nsteps: Input should be a valid integer"),
    (BASE + '[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = 5\ntime_limit_min = 9999999\n',
     "stages.emmd.time_limit_min: Input should be less than or equal to 525600"),
    (BASE + '[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = 5\ncpus_per_task = true\n',
     "stages.emmd.cpus_per_task: Input should be a valid integer"),
    (BASE + "[manager]\ninterval_s = true\n", "manager.interval_s: Input should be a valid number"),
    (BASE + "[manager]\nbackoff_s = [30, -1]\n", "manager.backoff_s.1: Input should be greater than or equal to 0"),
    (BASE + '[mutants.GpA]\nsequence = "EPEITL"\noligomer = true\n', "mutants.GpA.oligomer: Input should be a "
     "valid integer"),
    # issue 24, items 6 and 13: a preparation parameter of the wrong type, unknown to the protocol or
    # outside its limits is refused when the project loads, before any model is prepared (or held)
    (BASE + PREP + "params = {threads = -4}\n", "stages.prep.params: protocol prep: parameter threads = -4 must be "
     "at least 1"),
    (BASE + PREP + 'params = {threads = "4"}\n', "stages.prep.params: protocol prep: parameter threads = '4' must "
     "be a whole number, like its default 2"),
    (BASE + PREP + "params = {thread = 4}\n", "stages.prep.params: protocol prep: unknown parameter(s) ['thread']; "
     "valid: ['backbone_restraint_kj_mol_nm2', 'balance_leaflets'"),
    (BASE + PREP + "params = {salt_molar = 100.0}\n", "stages.prep.params: protocol prep: parameter salt_molar = "
     "100.0 must be at most 5"),
    (BASE + PREP + "params = {prep_npt_params = {tau_p_ps = -1.0}}\n", "stages.prep.params: step relax: "
     "relax_npt.mdp: prep_npt: parameter tau_p_ps=-1.0 must be positive"),
    (BASE + PREP.replace('"prep"', '"nope"'), "stages.prep.params: protocol 'nope' not found"),
])
def test_bad_project_files_are_one_line_errors(tmp_path, text, message):
    with pytest.raises(ProjectError) as info:
        Project.load(_write(tmp_path, text))
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_cycle_of_stages_is_refused(tmp_path):
    text = BASE + ('[stages.a]\nkind = "script"\ncommands = ["true"]\nafter = "b"\n'
                   '[stages.b]\nkind = "script"\ncommands = ["true"]\nafter = "a"\n')
    with pytest.raises(ProjectError, match="cycle"):
        Project.load(_write(tmp_path, text))


def test_missing_project_says_how_to_create_one(tmp_path):
    with pytest.raises(ProjectError, match="mpflow init"):
        Project.load(tmp_path)


def test_locate_prefers_the_explicit_folder_then_the_environment(tmp_path, monkeypatch):
    a = init_project(tmp_path / "a", dev=True)
    b = init_project(tmp_path / "b", dev=True)
    monkeypatch.setenv("MPFLOW_PROJECT", str(b.root))
    assert Project.locate().root == b.root
    assert Project.locate(a.root).root == a.root


def test_update_file_keeps_comments_and_refuses_invalid_edits(tmp_path):
    project = init_project(tmp_path, dev=True)

    def add_mutant(doc):
        doc["mutants"]["WT"] = {"sequence": "LIVAG", "oligomer": 2}

    project.update_file(add_mutant)
    assert project.config.mutants["WT"].oligomer == 2
    text = (tmp_path / PROJECT_FILE).read_text()
    assert "# the master first" in text and tomllib.loads(text)["mutants"]["WT"]["sequence"] == "LIVAG"

    def bad(doc):
        doc["mutants"]["X"] = {"sequence": "J"}

    with pytest.raises(ProjectError, match="mutants.X.sequence"):
        project.update_file(bad)
    assert "X" not in tomllib.loads((tmp_path / PROJECT_FILE).read_text())["mutants"]


@pytest.mark.parametrize("stage_toml,message", [
    ('[stages.emmd]\nkind = "gromacs"\nmdp = "emmd"\nnsteps = 10\nmdp_overrides = { "tau-pp" = 1 }\n',
     "stages.emmd:"),
    ('[stages.emmd]\nkind = "gromacs"\nmdp = "nosuch"\nnsteps = 10\n', "stages.emmd:"),
])
def test_a_malformed_mdp_override_or_template_is_refused_when_the_project_loads(tmp_path, stage_toml, message):
    with pytest.raises(ProjectError) as info:
        Project.load(_write(tmp_path, BASE + stage_toml))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_init_on_the_dev_clusters_refuses_a_cluster_the_connection_file_lacks(tmp_path, monkeypatch):
    """``mpflow init --dev --clusters alpha,beta,gamma`` names the dev cluster that does not exist."""
    entry = {"kind": "remote", "host": "127.0.0.1", "port": 2222, "user": "u", "slurm_conf": "/x/slurm.conf",
             "partition": "cpu"}
    doc = {FORMAT_KEY: FORMAT_VERSION, "key_path": "/k", "known_hosts": "/kh",
           "clusters": [{**entry, "name": n, "workdir": f"/w/{n}/work"} for n in ("alpha", "beta")]}
    (tmp_path / "connection.json").write_text(json.dumps(doc))
    monkeypatch.setenv(CONNECTION_FILE_ENV, str(tmp_path / "connection.json"))
    with pytest.raises(ProjectError, match=r"^--clusters: no dev cluster 'gamma' \(the dev clusters are alpha, beta\)$"):
        init_project(tmp_path / "p", dev=True, clusters=["alpha", "beta", "gamma"])
    assert init_project(tmp_path / "p", dev=True, clusters=["beta", "alpha"]).cluster_names == ["beta", "alpha"]
