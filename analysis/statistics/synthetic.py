"""Synthetic decompositions with known occurrence probabilities (tests and benchmarks).

This module owns a generator of store-shaped tables (frames, occurrences, keys) whose true
probabilities are given, so the statistics can be checked against the truth:

- groups (mutant, conformation) have ``models_per_group`` models each; every model has every
  stage of ``frames_per_stage`` (the docked stage, if listed, has one frame);
- key k of a model at a stage occurs on each of its chain-pair copies with probability
  q = clip(p[group, stage, k] + model effect, 0, 1) (p = 0 and p = 1 stay exact); the model
  effect ~ N(0, ``model_sd``) is drawn once per (model, key) and shared by the model's stages
  (what pairs stages);
- frames are correlated when ``persistence`` > 0: each copy keeps its previous state with that
  probability and redraws from Bernoulli(q) otherwise (a Markov chain whose mean is still q).

Keys are residue-level hydrophobic contacts at offset +1 between different residues, so a dimer
(the default, ``n_chains=2``) has 2 copies per key and the count per frame is 0, 1 or 2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class SyntheticTables:
    frames: pd.DataFrame
    occurrences: list[pd.DataFrame]   # one table per stage
    keys: pd.DataFrame
    truth: pd.DataFrame               # mutant, conformation, stage, key, probability (the p given)


def synthetic_keys(n_keys: int) -> pd.DataFrame:
    resid_a = 70 + np.arange(n_keys) % 500
    resid_b = resid_a + 3 + np.arange(n_keys) // 500
    key = [f"hydrophobic|1|LEU{a}:|ILE{b}:" for a, b in zip(resid_a, resid_b)]
    return pd.DataFrame({"key": key, "type": "hydrophobic", "offset": pd.array([1] * n_keys, dtype="Int64"),
                         "resname_a": "LEU", "resid_a": resid_a.astype(np.int64), "atoms_a": "",
                         "resname_b": "ILE", "resid_b": resid_b.astype(np.int64), "atoms_b": "",
                         "symmetric": True, "self_pair": False})


def _markov(q: np.ndarray, n_frames: int, persistence: float, rng) -> np.ndarray:
    """Binary (n_frames, len(q)) with stationary mean q and lag-1 persistence."""
    fresh = rng.random((n_frames, len(q)), dtype=np.float32) < q[None, :]
    if persistence <= 0 or n_frames == 1:
        return fresh
    refresh = rng.random((n_frames, len(q)), dtype=np.float32) >= persistence
    refresh[0] = True
    idx = np.where(refresh, np.arange(n_frames)[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.take_along_axis(fresh, idx, axis=0)


def synthetic_tables(probabilities: dict[tuple[str, str, str], np.ndarray], *,
                     models_per_group: int | dict[tuple[str, str], int],
                     frames_per_stage: dict[str, int], n_chains: int = 2, model_sd: float = 0.0,
                     persistence: float = 0.0, seed: int = 0) -> SyntheticTables:
    """Tables for ``probabilities[(mutant, conformation, stage)]`` = per-key true probability."""
    rng = np.random.default_rng(seed)
    n_keys = len(next(iter(probabilities.values())))
    keys = synthetic_keys(n_keys)
    copies = 2 if n_chains == 2 else n_chains
    key_cat = pd.CategoricalDtype(keys["key"].tolist())
    groups = sorted({(m, c) for m, c, _ in probabilities})
    frame_parts, occ_by_stage, truth = [], {}, []
    model_id = 0
    for mutant, conf in groups:
        n_models = models_per_group[(mutant, conf)] if isinstance(models_per_group, dict) else models_per_group
        for _ in range(n_models):
            model_id += 1
            effect = rng.normal(0.0, model_sd, n_keys) if model_sd > 0 else np.zeros(n_keys)
            for stage, n_frames in frames_per_stage.items():
                if (mutant, conf, stage) not in probabilities:
                    continue
                p = np.asarray(probabilities[(mutant, conf, stage)], dtype=float)
                inner = (p > 0) & (p < 1)  # 0 and 1 stay exact: a key that cannot form stays absent
                q = np.where(inner, np.clip(p + effect, 0.0, 1.0), p).astype(np.float32)
                count = np.zeros((n_frames, n_keys), dtype=np.uint8)
                for _c in range(copies):
                    count += _markov(q, n_frames, persistence, rng)
                fr, kk = np.nonzero(count)
                frame_parts.append(pd.DataFrame({
                    "model_id": np.int64(model_id), "stage": stage, "mutant": mutant,
                    "conformation": conf, "group": None if conf == "None" else conf,
                    "name": f"{mutant}_{model_id}", "frame": np.arange(n_frames, dtype=np.int64),
                    "n_chains": np.int64(n_chains)}))
                occ_by_stage.setdefault(stage, []).append(pd.DataFrame({
                    "model_id": np.full(len(fr), model_id, dtype=np.int64), "frame": fr.astype(np.int64),
                    "key": pd.Categorical.from_codes(kk.astype(np.int32), dtype=key_cat),
                    "count": count[fr, kk]}))
    for (m, c, s), p in probabilities.items():
        truth.append(pd.DataFrame({"mutant": m, "conformation": c, "stage": s, "key": keys["key"],
                                   "probability": np.asarray(p, dtype=float)}))
    frames = pd.concat(frame_parts, ignore_index=True)
    frames["tag"] = [c if s == "docked" else f"{c}:{s.upper()}:Protein_{f}"
                     for c, s, f in zip(frames["conformation"], frames["stage"], frames["frame"])]
    frames["stage"] = frames["stage"].astype("category")
    occurrences = []
    for stage, parts in occ_by_stage.items():
        occ = pd.concat(parts, ignore_index=True)
        occ.insert(1, "stage", pd.Categorical([stage] * len(occ)))
        occurrences.append(occ)
    return SyntheticTables(frames, occurrences, keys, pd.concat(truth, ignore_index=True))
