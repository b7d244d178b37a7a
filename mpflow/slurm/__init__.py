"""Slurm: commands as pure argv builders and parsers, the client that runs them on one cluster in
batches, what a job's folder says, job scripts, and batch submission.

- ``commands``: ``sbatch``/``squeue``/``sacct``/``scancel``/``scontrol``/``sinfo`` argv and parsers;
- ``client``: ``SlurmClient``, the one place the builders and parsers meet a transport;
- ``job_files``: the evidence a job leaves in its folder (``<stage>.gro``, the exit-code file);
- ``jobscript``: ``JobScriptOptions`` and the one function rendering a batch script;
- ``submission``: ``SubmitRequest`` and ``submit_batch`` (N jobs, one upload, one command);
- ``dask_workers``: Dask workers as Slurm jobs (dask-jobqueue) for the analysis.
"""
