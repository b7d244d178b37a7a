"""Transports: the only code that runs commands on, or reads and writes files of, a cluster.

``Transport`` (in ``base``) is the protocol everything above uses: ``run`` an argv list, and the file
operations transfers and submissions need (stat, open for reading or writing, rename, remove, chmod,
makedirs, sha256 computed on the far side, list a folder, write many files in one upload). It has
two implementations: ``LocalTransport`` (subprocesses and ``os``, for a cluster reached from this
machine) and ``SSHTransport`` (one reused SSH connection, for a cluster reached through its login
node). ``open_transport`` picks one from the cluster's settings.

Every command is an argv list (never a shell string with user text in it), and every file path is
confined to the cluster's workdir.

Why not prefect-shell here: ``ShellOperation`` takes shell strings; mpflow never needs a shell for
scheduler commands, and argv lists rule out quoting mistakes with user-supplied names.
"""

from mpflow.clusters.settings import ClusterSettings
from mpflow.clusters.transport.base import (
    MODE_BITS,
    TEMP_MARK,
    ClusterSettingsError,
    ClusterUnreachable,
    CommandResult,
    CommandTimeout,
    FileEntry,
    FileStat,
    PathOutsideWorkdir,
    Transport,
    TransportError,
    check,
    confine,
    is_temp_name,
    temp_path,
)
from mpflow.clusters.transport.local import LocalTransport
from mpflow.clusters.transport.ssh import SSHTransport


def open_transport(settings: ClusterSettings) -> LocalTransport | SSHTransport:
    """The transport for a cluster: subprocesses for a local cluster, SSH for a remote one."""
    return LocalTransport(settings) if settings.kind == "local" else SSHTransport(settings)


__all__ = [
    "MODE_BITS", "TEMP_MARK", "ClusterSettingsError", "ClusterUnreachable", "CommandResult", "CommandTimeout",
    "FileEntry", "FileStat", "LocalTransport", "PathOutsideWorkdir", "SSHTransport", "Transport", "TransportError",
    "check", "confine", "is_temp_name", "open_transport", "temp_path",
]
