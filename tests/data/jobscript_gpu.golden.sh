#!/bin/bash
#SBATCH --chdir=/scratch/me/mpflow-work/WT/Conformation1/model_1/prmd
#SBATCH --cpus-per-task=4
#SBATCH --gres=gpu:1
#SBATCH --nodes=1
#SBATCH --ntasks=1
#SBATCH --output=prmd.alpha.%j.out
#SBATCH --partition=cpu
#SBATCH --time=120

# Rendered by mpflow for cluster alpha: stage prmd of Conformation1.
# The exit code of this script and its job id are written to prmd.alpha.exitcode whatever happens,
# so mpflow can tell success from failure even where Slurm keeps no accounting.
trap 'echo "$? ${SLURM_JOB_ID:-}" > prmd.alpha.exitcode' EXIT
trap 'exit 143' TERM INT  # Slurm's SIGTERM at the time limit: still write the exit-code file
set -euo pipefail
cd /scratch/me/mpflow-work/WT/Conformation1/model_1/prmd
module load gromacs/2022.5
# Continue from the checkpoint after a TIMEOUT, a node failure or a preemption.
CPI_ARGS=()
if [ -f prmd.cpt ]; then CPI_ARGS=(-cpi prmd.cpt); fi
gmx mdrun -deffnm prmd "${CPI_ARGS[@]}" -maxh 1.9 -ntomp 4 -nb gpu
