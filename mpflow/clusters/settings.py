"""Cluster settings: everything mpflow needs to know to reach one Slurm cluster and run jobs there
(and the dev clusters' settings, read from their connection file).

``ClusterSettings`` is a plain pydantic model (no Prefect), so the core, the CLI and the tests can
use it directly; the Prefect block in ``mpflow.blocks`` is this same model plus Block behaviour
(saved and loaded by name, edited in the UI). Secrets are ``SecretStr`` and never printed.

Every value that reaches a shell, an ``#SBATCH`` line or Slurm (workdir, partition, account, host,
user, env names, templates) is checked when the settings are built, with an error naming the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from mpflow.clusters.devcluster import load_connection
from mpflow.templating import sandbox, syntax_problem
from mpflow.validation import (
    HOST,
    NAME,
    USER,
    check,
    check_cluster_path,
    check_extra_sbatch,
    mdrun_command_problem,
)


class StageResources(BaseModel):
    """Job resources a cluster may set per stage (``ClusterSettings.stage_resources``); the job-script
    options (``mpflow.slurm.jobscript.JobScriptOptions``) are these and the rest of what a job needs."""

    model_config = ConfigDict(extra="forbid")

    time_limit_min: int = Field(60, ge=1, description="Slurm --time in minutes.")
    nodes: int = Field(1, ge=1)
    ntasks: int = Field(1, ge=1)
    cpus_per_task: int = Field(1, ge=1)
    mem: str | None = Field(None, description="Slurm --mem, e.g. 4G.", pattern=r"^[0-9]+[KMGT]?$")
    gpu: bool = Field(False, description="Render the GPU variant (--gres and -nb gpu).")
    gpus: int = Field(1, ge=1, description="GPUs per node for the GPU variant.")
    maxh: float | None = Field(None, gt=0, description="GROMACS -maxh; default: 95% of the time limit.")
    extra_sbatch: dict[str, str] = Field(default_factory=dict, description="More sbatch flags, name → value.")

    @field_validator("extra_sbatch")
    @classmethod
    def _safe_extras(cls, value: dict[str, str]) -> dict[str, str]:
        return check_extra_sbatch(value)


class JumpHost(BaseModel):
    """One jump host on the way to a login node (OpenSSH's ``ProxyJump``). What it leaves unset comes from
    the ssh_config file's entry for its host, else from the cluster (its ``user`` and ``key_path``).
    Its host key is verified like the login node's, against the same known_hosts files."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(description="Jump host name or address (or a Host alias of the ssh_config file).")
    port: int | None = Field(None, ge=1, le=65535, description="Its SSH port (default: ssh_config's, else 22).")
    user: str | None = Field(None, description="Login name there (default: ssh_config's, else the cluster's user).")
    key_path: Path | None = Field(None, description="Private key for it (default: ssh_config's IdentityFile, "
                                  "else the cluster's key).")

    @field_validator("host")
    @classmethod
    def _safe_host(cls, value: str) -> str:
        return check(value, HOST, "proxy_jump host", "a host name or an IP address")

    @field_validator("user")
    @classmethod
    def _safe_user(cls, value: str | None) -> str | None:
        return None if value is None else check(value, USER, "proxy_jump user", "a login name")

    @classmethod
    def parse(cls, spec: str) -> "JumpHost":
        """``[user@]host[:port]``, as in ``ssh -J`` (an IPv6 address in brackets: ``[::1]:2200``)."""
        user, _, hostport = spec.strip().rpartition("@")
        host, port = hostport, None
        if hostport.startswith("["):
            host, _, rest = hostport[1:].partition("]")
            port = rest.removeprefix(":") or None
        elif hostport.count(":") == 1:
            host, _, port = hostport.partition(":")
        if port is not None and not port.isdigit():
            raise ValueError(f"proxy_jump {spec!r}: the port must be a number")
        return cls(host=host, user=user or None, port=int(port) if port else None)


RESOURCE_KEYS = tuple(StageResources.model_fields)
"""Job resources a cluster may set per stage."""


DEV_OBSERVE_INTERVAL_S = 0.0
"""The dev clusters' ``min_observe_interval_s`` unless their connection file says otherwise."""


class ClusterSettings(BaseModel):
    """How to reach one Slurm cluster and what to put in its job scripts."""

    name: str = Field(description="Short cluster name, used in job names, log names and the jobs database.",
                      pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    kind: Literal["local", "remote"] = Field(
        "remote", description="local: commands run as subprocesses on this machine; remote: over SSH.")
    host: str = Field("localhost", description="Login node host name or address (remote clusters).")
    port: int = Field(22, ge=1, le=65535, description="SSH port of the login node.")
    user: str | None = Field(None, description="SSH user name (remote clusters).")
    key_path: Path | None = Field(None, description="Private key file for SSH.")
    private_key: SecretStr | None = Field(None, description="Private key text, if not given as a file.")
    key_passphrase: SecretStr | None = Field(None, description="Passphrase of the private key, if any.")
    password: SecretStr | None = Field(None, description="SSH password (prefer a key).")
    known_hosts: Path | None = Field(
        None, description="known_hosts file to verify the login node's host key (besides ~/.ssh/known_hosts).")
    verify_host_key: bool = Field(
        True, description="Refuse login nodes whose host key is unknown. Turn off only on a trusted network.")
    proxy_jump: list[JumpHost] = Field(
        default_factory=list, description="Jump hosts to the login node, in order (OpenSSH's ProxyJump): each as "
        "{host, port, user, key_path} or as \"user@host:port\"; a comma-separated string is a list. Default: the "
        "ssh_config file's ProxyJump for `host`.")
    ssh_config: Path | None = Field(
        Path("~/.ssh/config"), description="OpenSSH client config file whose entry for `host` (a Host alias) gives "
        "what these settings leave unset: HostName, Port, User, IdentityFile, ProxyJump, UserKnownHostsFile. "
        "The default file is read when it exists; a file named here must exist; none: read no file.")
    use_agent: bool | None = Field(
        None, description="Offer the keys of the running ssh-agent ($SSH_AUTH_SOCK). Default: when no key, "
        "private_key or password is set.")
    workdir: str = Field(description="Absolute path of the working directory on the cluster. "
                         "Its basename must be the same on every cluster of a project.")
    env: dict[str, str] = Field(default_factory=dict,
                                description="Environment for every scheduler command, e.g. SLURM_CONF.")
    preamble: list[str] = Field(default_factory=list,
                                description="Lines run at the top of every job script (module load ...).")
    partition: str | None = Field(None, description="Slurm partition for mpflow jobs.")
    account: str | None = Field(None, description="Slurm account to charge, if the site needs one.")
    cpu_template: str | None = Field(None, description="Jinja2 job-script template for CPU jobs "
                                     "(default: mpflow's own).")
    gpu_template: str | None = Field(None, description="Jinja2 job-script template for GPU jobs "
                                     "(default: mpflow's own).")
    prefer: Literal["cpu", "gpu"] = Field("cpu", description="Run MD stages on CPU or GPU nodes here.")
    stage_resources: dict[str, dict[str, int | float | bool | str | dict[str, str]]] = Field(
        default_factory=dict,
        description="Job resources per stage on this cluster, e.g. "
                    '{"urmd": {"time_limit_min": 2880, "cpus_per_task": 16, "gpu": true}}. '
                    f"Keys: {', '.join(RESOURCE_KEYS)}.")
    max_queued: int = Field(200, ge=1, description="At most this many of the user's jobs queued or running here "
                            "(all of them, mpflow's and others, as squeue lists them): copies beyond it wait, "
                            "not submitted, until there is room.")
    min_observe_interval_s: float = Field(
        60.0, ge=0, description="At most one observation of this cluster (squeue, sacct where needed, the job "
                                "folders) per this many seconds, however often the manager ticks; ticks in between "
                                "decide and act on what they know.")
    backoff_max_s: float = Field(
        1800.0, gt=0, description="Longest wait, doubling from twice min_observe_interval_s, after the controller "
                                  "answers 'Socket timed out', 'Slurm temporarily unable' or a rate limit.")
    mdrun_command: str = Field(
        "gmx mdrun", description="How jobs here start mdrun: `gmx mdrun`, `gmx_mpi mdrun`, `srun gmx_mpi mdrun`, "
                                 "`mpirun gmx_mpi mdrun` or `mdrun_mpi` (modules it needs go in `preamble`); "
                                 "tasks and threads are added for each job (--ntasks/-np, -ntomp).")
    mpflow_python: str | None = Field(
        None, description="The interpreter of mpflow's cluster-side virtual environment here (recorded by "
                          "`mpflow cluster setup`); empty on a cluster on this machine: mpflow's own.")
    connect_timeout_s: float = Field(10.0, gt=0, description="Seconds to wait for the SSH connection.")
    command_timeout_s: float = Field(120.0, gt=0, description="Seconds a single scheduler command may take.")

    @field_validator("proxy_jump", mode="before")
    @classmethod
    def _jump_specs(cls, value):
        """``"a@h1:22,h2"`` or ``["a@h1:22", {"host": "h2"}]``: strings are parsed as ``ssh -J`` takes them."""
        if isinstance(value, str):
            value = [v for v in value.split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            return [JumpHost.parse(v) if isinstance(v, str) else v for v in value]
        return value

    @field_validator("workdir")
    @classmethod
    def _safe_workdir(cls, value: str) -> str:
        if len(value) > 1:
            value = value.rstrip("/")  # a trailing slash is a habit, not a mistake
        check_cluster_path(value, "workdir")
        if value == "/":
            raise ValueError("workdir must be a folder of its own, not /")
        return value

    @field_validator("mpflow_python")
    @classmethod
    def _safe_python(cls, value: str | None) -> str | None:
        return None if not value else check_cluster_path(value, "mpflow_python")

    @field_validator("mdrun_command")
    @classmethod
    def _safe_mdrun(cls, value: str) -> str:
        problem = mdrun_command_problem(value)
        if problem:
            raise ValueError(f"mdrun_command {value!r} {problem}")
        return value

    @field_validator("partition", "account")
    @classmethod
    def _safe_names(cls, value: str | None, info) -> str | None:
        return None if value is None else check(value, NAME, info.field_name, "A-Z, a-z, 0-9, '_', '.', ',' and '-'")

    @field_validator("host")
    @classmethod
    def _safe_host(cls, value: str) -> str:
        return check(value, HOST, "host", "a host name or an IP address")

    @field_validator("user")
    @classmethod
    def _safe_user(cls, value: str | None) -> str | None:
        return None if value is None else check(value, USER, "user", "a login name (A-Z, a-z, 0-9, '_', '.', '-')")

    @field_validator("cpu_template", "gpu_template")
    @classmethod
    def _template_parses(cls, value: str | None, info) -> str | None:
        problem = None if value is None else syntax_problem(sandbox(), value)
        if problem:
            raise ValueError(f"{info.field_name}: {problem}")
        return value

    @field_validator("env")
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [k for k in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)]
        if bad:
            raise ValueError(f"env: {bad} are not valid environment variable names")
        return value

    @field_validator("stage_resources")
    @classmethod
    def _known_resources(cls, value: dict) -> dict:
        """Each stage's resources are checked here, where the settings are built (a block saved in the
        UI, the dev clusters' file), not when a job is submitted: ``extra_sbatch`` flags mpflow owns
        (``--output``, ``--chdir``, ...) are refused naming the flag and the stage."""
        for stage, resources in value.items():
            unknown = sorted(set(resources) - set(RESOURCE_KEYS))
            if unknown:
                raise ValueError(f"stage_resources[{stage!r}]: unknown key(s) {unknown}; valid: {list(RESOURCE_KEYS)}")
            try:
                StageResources.model_validate(resources)
            except ValidationError as exc:
                raise ValueError(f"stage_resources[{stage!r}].{validation_message(exc)}") from None
        return value

    @model_validator(mode="after")
    def _remote_needs_user(self) -> "ClusterSettings":
        if self.kind == "remote" and not self.user:
            raise ValueError(f"cluster {self.name!r} is remote: set `user` (the SSH login name)")
        return self

    @property
    def workdir_basename(self) -> str:
        return self.workdir.rsplit("/", 1)[-1]

    def describe(self) -> str:
        """One line for logs and errors; never includes a secret."""
        where = "this machine" if self.kind == "local" else f"{self.user}@{self.host}:{self.port}"
        if self.kind == "remote" and self.proxy_jump:
            where += " via " + ", ".join(j.host for j in self.proxy_jump)
        return f"{self.name} ({self.kind}, {where}, workdir {self.workdir})"


def validation_message(exc: ValidationError) -> str:
    """A pydantic validation error as one line naming each field: ``workdir: must be ...; user: ...``."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or exc.title
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(msg if msg.startswith(where) else f"{where}: {msg}")
    return "; ".join(parts)


def dev_cluster_settings(path: Path | None = None, *, over_ssh: bool = False) -> list:
    """``ClusterSettings`` of the dev clusters, master first. A local cluster gets ``SLURM_CONF`` in its
    env; a remote one gets it from its login node's sshd, as a real cluster would. ``over_ssh``: every
    cluster remote, the master too (through its login node's sshd), as from a workstation."""
    doc = load_connection(path)
    settings = []
    for c in doc["clusters"]:
        local = c["kind"] == "local" and not over_ssh
        settings.append(ClusterSettings(
            name=c["name"], kind="local" if local else "remote", host=c["host"], port=c["port"], user=c["user"],
            key_path=doc["key_path"], known_hosts=doc["known_hosts"], workdir=c["workdir"],
            env={"SLURM_CONF": c["slurm_conf"]} if local else {}, partition=c["partition"],
            # this machine's own clusters: observed at every tick, so tests and the demo wait on nothing
            # but Slurm (a real cluster keeps the polite default of min_observe_interval_s)
            min_observe_interval_s=c.get("min_observe_interval_s", DEV_OBSERVE_INTERVAL_S),
            # how the cluster's GROMACS is called (beta: a gmx_mpi wrapper started by srun), when the file says
            **({"mdrun_command": c["mdrun_command"]} if c.get("mdrun_command") else {}),
            **({"preamble": list(c["preamble"])} if c.get("preamble") else {}),
            # reached through a jump host (gamma: the bastion), with the dev clusters' key and known_hosts
            **({"proxy_jump": list(c["proxy_jump"])} if c.get("proxy_jump") else {}),
            # the dev clusters' settings are complete: no ssh_config of the machine's user changes them
            ssh_config=None,
        ))
    return settings
