"""What reading every job's GROMACS log costs the tick: the job-folder probe with and without the logs.

Ours: the probe of ``mpflow.slurm.job_files`` (one command per cluster), which besides each job's
``.gro``/exit-code file keeps the key lines of its log: its head (64 kB, until the tick knows the run's
length) and its tail (32 kB, every tick), whatever the log's size. Baseline: the same probe before
issue 22 (the files only, shell builtins, no log read). N job folders on one dev cluster, each with a
real GROMACS 2022 log of a running job (``tests/data/mdlog/gromacs-2022-running.log``) grown to
``--log-mb`` MB with more energy blocks, as a long production run's log is.

    .venv/bin/python benchmarks/bench_progress_probe.py [--jobs 10 100 1000] [--log-mb 5] [--cluster beta]

Prints, per N, the median wall time of one probe command and the bytes it returns, for the baseline,
ours on a first tick (head and tail) and ours on a later tick (tail only). The folders' logs are hard
links to one file, so every read comes from the page cache: on a cluster's parallel file system
each log read is a round trip of its own, which this does not measure. Needs the dev clusters;
removes its folder at the end.
"""

from __future__ import annotations

import argparse
import posixpath
import uuid
from pathlib import Path

from timing import timed

from mpflow.clusters.settings import dev_cluster_settings
from mpflow.clusters.transport import open_transport
from mpflow.slurm.job_files import parse_probe, probe_argv, probe_stdin

LOG = Path(__file__).resolve().parents[1] / "tests" / "data" / "mdlog" / "gromacs-2022-running.log"

# The probe as it was before issue 22: the folder's files only.
BASELINE_SCRIPT = r"""
c=$1
tab=$(printf '\t')
while IFS="$tab" read -r d s; do
  g=0; [ -s "$d/$s.gro" ] && g=1
  l=0; [ -f "$d/$s.log" ] && l=1
  e=-; j=-
  if [ -f "$d/$s.$c.exitcode" ]; then read -r e j _ < "$d/$s.$c.exitcode" || true; fi
  case $e in ''|*[!0-9]*) e=- ;; esac
  case $j in ''|*[!0-9]*) j=- ;; esac
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$g" "$l" "$e" "$j" "$s" "$d"
done
"""


def grown_log(megabytes: float) -> bytes:
    """The running log with its last energy block repeated (steps counting on) to ``megabytes``."""
    text = LOG.read_text()
    block_at = text.rindex("           Step           Time")
    head, block = text[:block_at], text[block_at:]
    out, step = [head], 1500
    while sum(map(len, out)) < megabytes * 1e6:
        step += 500
        out.append(block.replace("           1500        3.00000", f"{step:>15d}{step * 0.002:>15.5f}"))
    return "".join(out).encode()



def main(sizes: list[int], log_mb: float, cluster: str) -> None:
    settings = next(s for s in dev_cluster_settings() if s.name == cluster)
    base = posixpath.join(settings.workdir, "bench", f"probe-{uuid.uuid4().hex[:6]}")
    log = grown_log(log_mb)
    rows = []
    with open_transport(settings) as t:
        try:
            t.makedirs([posixpath.join(base, "j0", "urmd")])
            t.write_files({posixpath.join(base, "j0", "urmd", "urmd.log"): log})
            made = 1
            for n in sizes:
                if made < n:  # more folders, their logs hard links to the first (no GBs of copies on the disk)
                    t.run(["sh", "-c", f'for i in $(seq {made} {n - 1}); do cp -rl "$1/j0" "$1/j$i"; done', "-", base])
                    made = n
                folders = [(posixpath.join(base, f"j{i}", "urmd"), "urmd") for i in range(n)]
                old_s, old = timed(lambda: t.run(["sh", "-c", BASELINE_SCRIPT, "probe", cluster],
                                                 stdin="".join(f"{f}\t{s}\n" for f, s in folders)), 5)
                first_s, first = timed(lambda: t.run(probe_argv(cluster), stdin=probe_stdin(
                    [(f, s, True) for f, s in folders])), 5)
                later_s, later = timed(lambda: t.run(probe_argv(cluster), stdin=probe_stdin(
                    [(f, s, False) for f, s in folders])), 5)
                found = parse_probe(later.returncode, later.stdout, later.stderr)
                assert all(ev.log is not None and ev.log.step is not None for ev in found.values())
                rows.append((n, old_s, len(old.stdout), first_s, len(first.stdout), later_s, len(later.stdout)))
        finally:
            t.run(["rm", "-rf", "--", base])
    print(f"cluster {cluster} ({settings.kind}); each job folder holds a {len(log) / 1e6:.1f} MB GROMACS log; "
          f"median of 5 probes")
    print(f"{'jobs':>5} | {'baseline s':>10} {'bytes':>8} | {'ours, first tick s':>18} {'bytes':>8} | "
          f"{'ours, later ticks s':>19} {'bytes':>8} {'x baseline':>10}")
    for n, os_, ob, fs, fb, ls, lb in rows:
        print(f"{n:>5} | {os_:>10.3f} {ob:>8} | {fs:>18.3f} {fb:>8} | {ls:>19.3f} {lb:>8} {ls / os_:>10.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--log-mb", type=float, default=5.0)
    parser.add_argument("--cluster", default="beta")
    args = parser.parse_args()
    main(args.jobs, args.log_mb, args.cluster)
