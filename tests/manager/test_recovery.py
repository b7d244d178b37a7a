"""Adopting the jobs a restored database does not know (``mpflow.manager.recovery.adopt``), as a table of
cases without a cluster: what squeue, sacct and the job folders say against the database's rows."""

from datetime import datetime

from mpflow.manager.recovery import adopt, stage_dir
from mpflow.slurm.client import Survey
from mpflow.slurm.commands import SlurmStatus
from mpflow.slurm.job_files import FileEvidence
from mpflow.states import FailureKind, JobState, StageState
from mpflow.store.records import JobRecord, StageRecord

NOW = datetime(2026, 12, 2, 12, 0, 0)
WORKDIR = "/w/alpha/mpflow-work/proj"


def _stage(sid: int, model_id: int, name: str, stage: str = "emmd", state=StageState.READY) -> StageRecord:
    return StageRecord(sid, model_id, stage, state, None, 0, 0, "WT", "None", name)


def _job(model_id: int, cluster: str, attempt: int, token: str, slurm_id: str, stage: str = "emmd") -> JobRecord:
    return JobRecord(100 + attempt, model_id, stage, cluster, attempt, JobState.F, slurm_id, token,
                     FailureKind.NONZERO_EXIT, True, False, 1, NOW, NOW, NOW)


def _status(job_id: str, token: str, work_dir: str, state=JobState.PD, source="squeue", **kw) -> SlurmStatus:
    return SlurmStatus(job_id, f"mpf-{token}", state, {JobState.PD: "PENDING", JobState.R: "RUNNING",
                                                      JobState.D: "COMPLETED"}.get(state, "FAILED"),
                       source=source, work_dir=work_dir, **kw)


def _files(st: StageRecord, *, gro=False, code=None, job_id=None) -> dict:
    folder = stage_dir(st, WORKDIR)
    return {(folder, st.stage): FileEvidence(folder, st.stage, gro, False, code, job_id)}


def test_jobs_of_unknown_tokens_become_rows_of_the_model_stage_whose_folder_they_ran_in():
    m1, m2 = _stage(1, 10, "m1"), _stage(2, 20, "m2", state=StageState.WAITING)
    survey = Survey({"41": _status("41", "tok41", stage_dir(m1, WORKDIR)),
                     "42": _status("42", "tok42", stage_dir(m2, WORKDIR), JobState.R,
                                   start=datetime(2026, 12, 2, 11, 0))}, {}, 3)
    out = adopt("alpha", survey, WORKDIR, [m1, m2], {}, set(), {"emmd": 2}, NOW)
    assert [(j.model_id, j.cluster, j.attempt, j.token, j.slurm_id, j.state, j.cpus) for j in out.jobs] == [
        (10, "alpha", 1, "tok41", "41", JobState.PD, 2), (20, "alpha", 1, "tok42", "42", JobState.R, 2)]
    assert out.jobs[1].started == datetime(2026, 12, 2, 11, 0)
    assert [(c.id, c.state) for c in out.stage_changes] == [(1, StageState.ACTIVE), (2, StageState.ACTIVE)]
    assert [t.kind for t in out.transitions] == ["adopted", "adopted"] and out.unmatched == []


def test_known_tokens_and_known_ids_are_left_alone_and_the_attempt_follows_the_rows():
    m1 = _stage(1, 10, "m1", state=StageState.ACTIVE)
    rows = {(10, "emmd"): [_job(10, "alpha", 1, "old1", "30"), _job(10, "beta", 1, "old2", "30")]}
    survey = Survey({"30": _status("30", "old1", stage_dir(m1, WORKDIR), JobState.F),
                     "31": _status("31", "known-elsewhere", stage_dir(m1, WORKDIR)),
                     "32": _status("32", "new32", stage_dir(m1, WORKDIR))}, {}, 3)
    out = adopt("alpha", survey, WORKDIR, [m1], rows, {"old1", "old2", "known-elsewhere"}, {}, NOW)
    assert [(j.slurm_id, j.attempt) for j in out.jobs] == [("32", 2)]
    assert out.stage_changes == []  # already active


def test_a_job_slurm_has_forgotten_is_found_by_its_folders_exit_code_file():
    m1, m2 = _stage(1, 10, "m1"), _stage(2, 20, "m2")
    files = {**_files(m1, gro=True, code=0, job_id="55"), **_files(m2, code=3, job_id="56")}
    out = adopt("beta", Survey({}, files, 2), WORKDIR, [m1, m2], {}, set(), {}, NOW)
    assert [(j.model_id, j.slurm_id, j.state, j.failure_kind, j.counted) for j in out.jobs] == [
        (10, "55", JobState.D, None, False), (20, "56", JobState.F, FailureKind.NONZERO_EXIT, True)]
    assert all(j.token and j.ended == NOW for j in out.jobs)
    assert "exit-code file" in out.transitions[0].why


def test_an_exit_code_file_of_a_known_job_or_of_a_job_squeue_shows_adds_nothing_more():
    m1 = _stage(1, 10, "m1", state=StageState.ACTIVE)
    rows = {(10, "emmd"): [_job(10, "beta", 1, "old", "55")]}
    assert adopt("beta", Survey({}, _files(m1, code=0, job_id="55"), 2), WORKDIR, [m1], rows, {"old"}, {},
                 NOW).jobs == []
    survey = Survey({"57": _status("57", "new57", stage_dir(m1, WORKDIR), JobState.D, source="sacct")},
                    _files(m1, gro=True, code=0, job_id="57"), 3)
    out = adopt("beta", survey, WORKDIR, [m1], rows, {"old"}, {}, NOW)
    assert [(j.slurm_id, j.token, j.state) for j in out.jobs] == [("57", "new57", JobState.D)]


def test_a_cancelled_copy_is_not_counted_and_jobs_elsewhere_are_never_ours():
    m1 = _stage(1, 10, "m1")
    survey = Survey({
        "60": _status("60", "t60", stage_dir(m1, WORKDIR), JobState.F, source="sacct",
                      failure_kind=FailureKind.CANCELLED),
        "61": _status("61", "t61", "/w/alpha/mpflow-work/other-project/WT/None/m1/emmd"),  # another project's
        "62": _status("62", "t62", f"{WORKDIR}/WT/None/m9/emmd"),  # a model this database does not have
    }, {}, 3)
    out = adopt("alpha", survey, WORKDIR, [m1], {}, set(), {}, NOW)
    assert [(j.slurm_id, j.failure_kind, j.counted) for j in out.jobs] == [("60", FailureKind.CANCELLED, False)]
    assert out.unmatched == ["job 62 in WT/None/m9/emmd"]
