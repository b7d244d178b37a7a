"""Super-base and decomposition: every analysed frame as a sparse vector over all interaction keys.

This module owns three steps of the analysis:

1. **Super-base** (built by :func:`decompose`): the union of the normalised interaction keys
   (:func:`mpflow.analysis.interactions.interaction_keys`) over every stage and mutant, one row per
   key with what it stands for and in which stages it occurs at all (``stages``; ``only_in_stage``
   names the stage when there is exactly one).
2. **Decomposition** (:func:`decompose`): a :class:`Decomposition` holds one row per frame (model
   id, mutant, conformation, model name, stage, frame, tag ``conformation:XXMD:Protein_n``) and a
   ``scipy.sparse`` CSR matrix ``counts`` (frames × keys, uint8): how many chain pairs show the key
   in that frame.  ``counts > 0`` is the frame's binary vector; the count is what the occurrence
   probability needs (see below).  Merging per-stage tables is a relabelling of dictionary codes,
   never a string operation per row.
3. **Units** (:func:`units_of`): the counts summed per (model, stage) — the unit of replication of
   the statistics — with the frame count and the denominators.

Chain-pair copies (the denominator)
-----------------------------------
The occurrence probability of a key is count / (copies × frames), where *copies* is how many chain
pairs of the assembly can carry the key at once (:func:`n_copies`).  With n chains in a ring and
the key's ring offset o: o = ±1 → n pairs for n ≥ 3 and 2 for a dimer (both orientations are +1);
o = 0 (intra-chain) → n; o = None (non-adjacent) → n(n−3).  When the two orientations of a pair
share the offset (dimer, None) and the key is a symmetric type joining a residue to the same
residue, the two orientations are one copy: halved.  A C8 ring gives the original study's
"8 chain pairs".  If more copies are ever observed than this allows (chains outside the ring), the
observed maximum is used, so a probability never exceeds 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse

from mpflow.analysis.frames import STAGES
from mpflow.analysis.interactions.types import INTERACTION_TYPES
from mpflow.analysis.store import write_parquet

FRAME_COLUMNS = ("model_id", "mutant", "conformation", "name", "stage", "frame", "tag", "n_chains")
KEY_COLUMNS = ("key", "type", "offset", "resname_a", "resid_a", "atoms_a", "resname_b", "resid_b",
               "atoms_b", "symmetric", "self_pair")


def empty_keys() -> pd.DataFrame:
    """A keys table (:data:`KEY_COLUMNS`) with no rows and the dtypes of a written one."""
    return pd.DataFrame({
        "key": pd.Series([], dtype="object"), "type": pd.Series([], dtype="object"),
        "offset": pd.Series([], dtype="Int64"), "resname_a": pd.Series([], dtype="object"),
        "resid_a": pd.Series([], dtype="int64"), "atoms_a": pd.Series([], dtype="object"),
        "resname_b": pd.Series([], dtype="object"), "resid_b": pd.Series([], dtype="int64"),
        "atoms_b": pd.Series([], dtype="object"), "symmetric": pd.Series([], dtype="bool"),
        "self_pair": pd.Series([], dtype="bool")})


def stage_rank(stages: pd.Series) -> np.ndarray:
    order = {s: k for k, s in enumerate(STAGES)}
    return stages.astype(str).map(order).fillna(len(order)).to_numpy().astype(np.int64)


def n_copies(offset, self_pair: bool, n_chains: int) -> int:
    """Chain pairs that can carry a key with ring ``offset`` in an assembly of ``n_chains``."""
    n = int(n_chains)
    if offset is None or offset is pd.NA or (isinstance(offset, float) and np.isnan(offset)):
        pairs = n * (n - 3) if n >= 4 else 0
        return pairs // 2 if self_pair else pairs
    o = int(offset)
    if o == 0:
        return n
    if n == 2:
        return 1 if self_pair else 2
    return n if n >= 3 else 0


def sort_keys(keys: pd.DataFrame) -> pd.DataFrame:
    """Super-base order: interaction type (registry order), offset, residue a, residue b, key."""
    type_order = {t: k for k, t in enumerate(INTERACTION_TYPES)}
    tmp = keys.assign(_t=keys["type"].astype(str).map(lambda t: type_order.get(t, 99)),
                      _o=keys["offset"].astype("Float64").fillna(99).astype(float))
    tmp = tmp.sort_values(["_t", "_o", "resid_a", "resid_b", "key"], kind="stable")
    return tmp.drop(columns=["_t", "_o"]).reset_index(drop=True)


@dataclass
class Decomposition:
    """Frames × super-base counts (see the module docstring)."""

    frames: pd.DataFrame          # one row per matrix row, FRAME_COLUMNS (+ time_ps when known)
    keys: pd.DataFrame            # the super-base, one row per matrix column
    counts: sparse.csr_array      # uint8 chain-pair copies per (frame, key)

    @property
    def n_frames(self) -> int:
        return self.counts.shape[0]

    @property
    def n_keys(self) -> int:
        return self.counts.shape[1]

    def binary(self, dtype=np.float32) -> sparse.csr_array:
        """The frames' binary vectors (key present in the frame or not)."""
        b = self.counts.copy()
        b.data = (b.data > 0).astype(dtype)
        b.eliminate_zeros()
        return b

    def copies(self) -> tuple[np.ndarray, np.ndarray]:
        """(chain counts c, table T) with T[i, k] = copies of key k in an assembly of c[i] chains."""
        chains = np.unique(self.frames["n_chains"].to_numpy().astype(np.int64))
        offs = self.keys["offset"].astype("Int64")
        selfp = self.keys["self_pair"].to_numpy().astype(bool)
        table = np.zeros((len(chains), self.n_keys), dtype=np.float64)
        for i, n in enumerate(chains):
            table[i] = [n_copies(None if pd.isna(o) else int(o), s, n) for o, s in zip(offs, selfp)]
            if self.counts.nnz:
                table[i] = np.maximum(table[i], self._observed_max(n, len(chains) == 1))
        return chains, table

    def _observed_max(self, n_chains: int, all_rows: bool) -> np.ndarray:
        """Largest count of each key over the frames of ``n_chains`` chains (no matrix copy)."""
        m = self.counts
        if all_rows:
            indices, data = m.indices, m.data
        else:
            rows = np.flatnonzero(self.frames["n_chains"].to_numpy() == n_chains)
            sub = m[rows]
            indices, data = sub.indices, sub.data
        observed = np.zeros(self.n_keys, dtype=np.float64)
        for v in np.unique(data)[::-1]:  # a handful of values (counts <= chain pairs)
            hit = np.bincount(indices[data == v], minlength=self.n_keys) > 0
            observed[hit & (observed == 0)] = v
        return observed

    def subset_keys(self, mask: np.ndarray) -> "Decomposition":
        mask = np.asarray(mask, dtype=bool)
        return Decomposition(self.frames, self.keys.loc[mask].reset_index(drop=True),
                             self.counts[:, np.flatnonzero(mask)].tocsr())

    # -- storage: frames and keys as tables, counts as (row, col, count) triplets
    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        coo = self.counts.tocoo()
        write_parquet(self.frames, folder / "decomposition_frames.parquet")
        write_parquet(self.keys, folder / "superbase.parquet")
        write_parquet(pd.DataFrame({"row": coo.row.astype(np.int64), "col": coo.col.astype(np.int32),
                                    "count": coo.data.astype(np.uint8)}),
                      folder / "decomposition_counts.parquet")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "Decomposition":
        folder = Path(folder)
        frames = pd.read_parquet(folder / "decomposition_frames.parquet")
        keys = pd.read_parquet(folder / "superbase.parquet")
        trip = pd.read_parquet(folder / "decomposition_counts.parquet")
        counts = sparse.csr_array((trip["count"].to_numpy(), (trip["row"].to_numpy(), trip["col"].to_numpy())),
                                  shape=(len(frames), len(keys)), dtype=np.uint8)
        return cls(frames, keys, counts)


def _frame_code(model_id: np.ndarray, stage_code: np.ndarray, frame: np.ndarray) -> np.ndarray:
    return (model_id.astype(np.int64) << 36) | (stage_code.astype(np.int64) << 32) | frame.astype(np.int64)


def _codes(column: pd.Series, index: pd.Index) -> np.ndarray:
    """Positions of a column's values in ``index`` through its categories (no per-row strings)."""
    cat = column if isinstance(column.dtype, pd.CategoricalDtype) else column.astype("category")
    lookup = index.get_indexer(cat.cat.categories.astype(str))
    codes = cat.cat.codes.to_numpy()
    return np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1)


def _piece_columns(piece, stage_index: pd.Index, key_index: pd.Index):
    """(model_id, stage code, frame, super-base column, count) arrays of one occurrence piece.

    Pieces may be pandas DataFrames or pyarrow Tables/RecordBatches; dictionary/categorical
    columns are mapped through their dictionaries, never value by value.
    """
    if isinstance(piece, pd.DataFrame):
        return (piece["model_id"].to_numpy(), _codes(piece["stage"], stage_index),
                piece["frame"].to_numpy(), _codes(piece["key"], key_index), piece["count"].to_numpy())

    def codes(column, index: pd.Index) -> np.ndarray:
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        out = []
        for ch in chunks:
            if pa.types.is_dictionary(ch.type):
                lookup = index.get_indexer(pd.Index(ch.dictionary.to_pylist()).astype(str))
                idx = ch.indices.to_numpy(zero_copy_only=False)
                out.append(lookup[idx.astype(np.int64)])
            else:
                out.append(index.get_indexer(pd.Index(ch.to_pylist()).astype(str)))
        return np.concatenate(out) if out else np.zeros(0, np.int64)

    def plain(column) -> np.ndarray:
        return np.asarray(column.to_numpy() if isinstance(column, pa.ChunkedArray)
                          else column.to_numpy(zero_copy_only=False))

    return (plain(piece.column("model_id")), codes(piece.column("stage"), stage_index),
            plain(piece.column("frame")), codes(piece.column("key"), key_index),
            plain(piece.column("count")))


def decompose(frames: pd.DataFrame, occurrences: pd.DataFrame | Iterable[pd.DataFrame],
              keys: pd.DataFrame) -> Decomposition:
    """Build the :class:`Decomposition` of ``frames`` from the store's tables (the merge step).

    ``frames``: the frames to analyse, one row per (model_id, stage, frame); ``occurrences``: one
    table or an iterable of tables (e.g. one per stage) with ``model_id, stage, frame, key, count``
    — rows of frames not in ``frames`` are ignored; ``keys``: the per-part key tables.  Each piece's
    key dictionary is relabelled onto the super-base (the union of keys seen in the selected
    frames); the CSR matrix is built once at the end.
    """
    frames = frames.copy()
    frames["_rank"] = stage_rank(frames["stage"])
    frames = frames.sort_values(["_rank", "model_id", "frame"], kind="stable").drop(columns="_rank")
    frames = frames.drop_duplicates(["model_id", "stage", "frame"]).reset_index(drop=True)
    stage_index = pd.Index(list(STAGES))
    fstage = _codes(frames["stage"], stage_index)
    if (fstage < 0).any():
        raise ValueError(f"unknown stage in the frames table; stages: {', '.join(STAGES)}")
    if len(frames) and (frames["model_id"].max() >= 1 << 27 or frames["frame"].max() >= 1 << 32):
        raise ValueError("model ids must be < 2**27 and frame indices < 2**32")
    fcode = _frame_code(frames["model_id"].to_numpy(), fstage, frames["frame"].to_numpy())
    order = np.argsort(fcode, kind="stable")
    sorted_codes = fcode[order]
    del fcode
    all_keys = sort_keys(keys.loc[:, list(KEY_COLUMNS)].drop_duplicates("key"))
    key_index = pd.Index(all_keys["key"].astype(str))
    pieces = [occurrences] if isinstance(occurrences, (pd.DataFrame, pa.Table, pa.RecordBatch)) \
        else occurrences
    rows_l, cols_l, counts_l = [], [], []
    present = np.zeros((len(all_keys), len(STAGES)), dtype=bool)
    for piece in pieces:
        if piece is None or len(piece) == 0 or len(sorted_codes) == 0:
            continue
        model_id, ostage, frame, cols, count = _piece_columns(piece, stage_index, key_index)
        if (ostage < 0).any():
            raise ValueError(f"unknown stage in the occurrences; stages: {', '.join(STAGES)}")
        ocode = _frame_code(model_id, ostage, frame)
        del model_id, frame
        pos = np.minimum(np.searchsorted(sorted_codes, ocode), len(sorted_codes) - 1)
        hit = sorted_codes[pos] == ocode
        del ocode
        if not hit.all():
            pos, cols, count, ostage = pos[hit], cols[hit], count[hit], ostage[hit]
        if (cols < 0).any():
            raise ValueError("occurrences name keys missing from the key tables")
        rows_l.append(order[pos].astype(np.int32))
        cols_l.append(cols.astype(np.int32))
        counts_l.append(count.astype(np.uint8))
        lo, hi = int(ostage.min()), int(ostage.max())
        for st in range(lo, hi + 1):  # a piece is usually one stage: no sort, no mask
            sub = cols if lo == hi else cols[ostage == st]
            present[:, st] |= np.bincount(sub, minlength=len(all_keys)) > 0
        del pos, hit, cols, count
    rows = np.concatenate(rows_l) if rows_l else np.zeros(0, np.int32)
    cols = np.concatenate(cols_l) if cols_l else np.zeros(0, np.int32)
    counts = np.concatenate(counts_l) if counts_l else np.zeros(0, np.uint8)
    del rows_l, cols_l, counts_l
    seen = present.any(axis=1)  # the super-base: keys seen in the selected frames
    remap = np.cumsum(seen) - 1
    base = all_keys.loc[seen].reset_index(drop=True)
    base["stages"] = [",".join(STAGES[j] for j in np.flatnonzero(r)) for r in present[seen]]
    n_present = present[seen].sum(axis=1)
    base["only_in_stage"] = np.where(n_present == 1, base["stages"], "")
    cols = remap[cols].astype(np.int32)
    if len(rows) == 0 or np.all(rows[1:] >= rows[:-1]):
        # rows already in order (the store's pieces come in frame order): CSR directly, no sort
        indptr = np.zeros(len(frames) + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=len(frames)), out=indptr[1:])
        matrix = sparse.csr_array((counts, cols, indptr), shape=(len(frames), len(base)))
    else:
        matrix = sparse.csr_array((counts, (rows, cols)), shape=(len(frames), len(base)), dtype=np.uint8)
        matrix.sum_duplicates()
    cols_out = [c for c in list(FRAME_COLUMNS) + ["time_ps"] if c in frames.columns]
    return Decomposition(frames.loc[:, cols_out].reset_index(drop=True), base, matrix)


@dataclass
class Units:
    """Counts summed per (model, stage): the unit of replication of the statistics."""

    table: pd.DataFrame           # model_id, stage, mutant, conformation, name, n_frames, n_chains
    counts: np.ndarray            # (n_units, n_keys) float64: summed chain-pair copies
    denominators: np.ndarray      # (n_units, n_keys) float64: copies × frames


def units_of(dec: Decomposition) -> Units:
    """Aggregate a decomposition per (model_id, stage), one bincount per unit over its rows.

    The rows of a unit are contiguous (:func:`decompose` sorts frames by stage, model, frame);
    any other order is sorted first.
    """
    fr = dec.frames
    unit_code, unit_index = pd.factorize(pd.MultiIndex.from_arrays([fr["model_id"], fr["stage"]]),
                                         sort=False)
    n_units = len(unit_index)
    m = dec.counts
    if len(unit_code) and np.any(np.diff(unit_code) < 0):
        order = np.argsort(unit_code, kind="stable")
        m = m[order]
        unit_code = unit_code[order]
    bounds = np.searchsorted(unit_code, np.arange(n_units + 1))
    counts = np.zeros((n_units, dec.n_keys), dtype=np.float64)
    for u in range(n_units):
        a, b = m.indptr[bounds[u]], m.indptr[bounds[u + 1]]
        if b > a:
            counts[u] = np.bincount(m.indices[a:b], weights=m.data[a:b], minlength=dec.n_keys)
    first = pd.Series(np.arange(len(fr))).groupby(pd.factorize(
        pd.MultiIndex.from_arrays([fr["model_id"], fr["stage"]]), sort=False)[0]).first().to_numpy()
    table = fr.iloc[first][["model_id", "stage", "mutant", "conformation", "name", "n_chains"]].reset_index(drop=True)
    table["n_frames"] = np.diff(bounds)
    chains, copy_table = dec.copies()
    chain_row = np.searchsorted(chains, table["n_chains"].to_numpy())
    denominators = copy_table[chain_row] * table["n_frames"].to_numpy()[:, None]
    return Units(table, counts, denominators)
