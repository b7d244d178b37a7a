"""The interaction table: schema, metadata, normalised keys, and safe reading/writing.

This module owns the table every engine run produces and every consumer reads:

Schema (:data:`INTERACTION_SCHEMA`), one row per interaction per frame
-----------------------------------------------------------------------
- ``frame`` int64: trajectory frame index · ``time_ps`` float64
- ``type`` category: the registry names, all of them, in registry order
- ``chain_a``, ``resid_a`` (int64), ``resname_a``, ``atoms_a``, ``index_a`` (int64), and the same
  for side b: chain, residue, the atoms involved (atom names; a group's names comma-joined; for
  ``kih`` side b holds the hole's resids "i,i+3,i+4,i+7"), and the 0-based atom index of the
  representative atom (donor, acceptor, closest atom, first atom of a group)
- ``hydrogen`` category: the H of an H-bond, NA otherwise
- ``offset`` Int64: ring offset a->b (-1, +1, 0), NA for non-adjacent chains
- ``distance_A`` float32 · ``angle_deg`` float32 (NaN when the type has no angle)
- ``fallback`` bool: H-bond found by the heavy-atom fallback
String columns other than ``type`` are categoricals of the used values, sorted, so a table does
not depend on how its frames were chunked.

Metadata: ``df.attrs[METADATA_KEY]`` holds how the table was made (criteria profile, every type's
parameters and source, selections, frames, ...; see :func:`table_metadata`).  :func:`write_table`
stores it as Parquet key-value metadata under the same key, or as a first ``# mpflow.interactions
{json}`` comment line of a CSV; :func:`read_table` restores it and the dtypes.

Writing is atomic: a temporary file in the destination folder, renamed over the destination only
once complete, so an interrupted or failed write leaves any previous table intact.
:func:`check_writable` tests a destination before a long computation.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mpflow.analysis.interactions.types import INTERACTION_TYPES

METADATA_KEY = "mpflow.interactions"
TABLE_SUFFIXES = (".parquet", ".pq", ".csv")
TYPE_DTYPE = pd.CategoricalDtype(list(INTERACTION_TYPES))

#: column -> dtype of the interaction table (see the module docstring)
INTERACTION_SCHEMA: dict[str, object] = {
    "frame": "int64",
    "time_ps": "float64",
    "type": TYPE_DTYPE,
    "chain_a": "category",
    "resid_a": "int64",
    "resname_a": "category",
    "atoms_a": "category",
    "index_a": "int64",
    "chain_b": "category",
    "resid_b": "int64",
    "resname_b": "category",
    "atoms_b": "category",
    "index_b": "int64",
    "hydrogen": "category",
    "offset": "Int64",
    "distance_A": "float32",
    "angle_deg": "float32",
    "fallback": "bool",
}
STRING_COLUMNS = ("type", "chain_a", "resname_a", "atoms_a", "chain_b", "resname_b", "atoms_b",
                  "hydrogen")


def empty_table() -> pd.DataFrame:
    """A table with no rows and the documented dtypes."""
    return apply_schema(pd.DataFrame({c: [] for c in INTERACTION_SCHEMA}))


def apply_schema(df: pd.DataFrame) -> pd.DataFrame:
    """Cast ``df`` to :data:`INTERACTION_SCHEMA` (column order included); ``df.attrs`` are kept."""
    out = {}
    for col, dtype in INTERACTION_SCHEMA.items():
        s = df[col]
        if col in STRING_COLUMNS and isinstance(dtype, str) and _canonical_categorical(s):
            out[col] = s
            continue
        if col in STRING_COLUMNS:
            if not isinstance(s.dtype, pd.CategoricalDtype):
                s = s.astype("object").where(s.notna(), None)
            s = s.astype(dtype)
            if isinstance(dtype, str):  # used categories, sorted: the same whatever the chunking
                s = s.cat.remove_unused_categories()
                s = s.cat.reorder_categories(sorted(s.cat.categories))
        else:
            s = s.astype(dtype)
        out[col] = s
    result = pd.DataFrame(out)
    result.attrs = dict(df.attrs)
    return result


def _canonical_categorical(s: pd.Series) -> bool:
    """Already a categorical of exactly its used values, sorted (nothing for apply_schema to do)."""
    if not isinstance(s.dtype, pd.CategoricalDtype):
        return False
    cats = s.cat.categories
    codes = s.cat.codes.to_numpy()
    used = np.zeros(len(cats), bool)
    used[codes[codes >= 0]] = True
    return bool(used.all() and cats.is_monotonic_increasing and cats.is_unique)


def sorted_categorical(codes: np.ndarray, values) -> pd.Categorical:
    """Categorical of ``values[codes]`` (code -1: NA) whose categories are the used values, sorted
    (the canonical form of the table's string columns, built without pandas round trips)."""
    codes = np.asarray(codes, dtype=np.int64)
    valid = codes >= 0
    used = np.flatnonzero(np.bincount(codes[valid], minlength=len(values)))  # sorted, O(n)
    names = np.asarray(values, dtype=object)[used].astype(str)
    order = np.argsort(names, kind="stable")
    remap = np.full(len(values), -1, dtype=np.int64)
    remap[used[order]] = np.arange(len(used))
    new = np.where(valid, remap[np.where(valid, codes, 0)], -1)
    return pd.Categorical.from_codes(new, categories=list(names[order]))


def table_metadata(df: pd.DataFrame) -> dict:
    """How ``df`` was made (criteria, parameters, ...); empty for a table without metadata."""
    return dict(df.attrs.get(METADATA_KEY, {}))


def interaction_keys(df: pd.DataFrame) -> pd.Series:
    """Direction-normalised key per row: type, offset, residues and (for atom-level types) atoms.

    The chain labels are not part of the key, so the symmetric copies of one interaction in a
    C_n ring (or a C2 dimer) share one key.  Hydrophobic and vdW keys are residue-level.
    """
    residue_level = df["type"].astype(str).map(
        {n: not c.key_atoms for n, c in INTERACTION_TYPES.items()}).astype(bool)
    atoms_a = df["atoms_a"].astype(str).where(~residue_level, "")
    atoms_b = df["atoms_b"].astype(str).where(~residue_level, "")
    off = df["offset"].astype("string").fillna("None")
    return (df["type"].astype(str) + "|" + off + "|" + df["resname_a"].astype(str)
            + df["resid_a"].astype(str) + ":" + atoms_a + "|" + df["resname_b"].astype(str)
            + df["resid_b"].astype(str) + ":" + atoms_b)


# --------------------------------------------------------------------------- files
def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: table suffix must be .parquet, .pq or .csv")
    return suffix


def _temporary_name(path: Path, tag: str) -> Path:
    """A fresh hidden name next to ``path`` (created by the caller with the umask's permissions)."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.{tag}"


def check_writable(path: str | Path) -> Path:
    """Raise ``ValueError`` (naming ``path``) unless a table can be written there.

    Checks the suffix, that ``path`` is not a folder, and creates and removes a probe file in the
    destination folder (or its nearest existing ancestor), so permissions, read-only mounts and a
    file standing where a folder should be are caught before any computation.
    """
    path = Path(path)
    _suffix(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder, not a table file")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise ValueError(f"{path}: cannot write there ({folder} is not a folder)")
    probe = folder / _temporary_name(path, "probe").name
    try:
        with open(probe, "x"):
            pass
        probe.unlink()
    except OSError as exc:
        raise ValueError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    return path


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as Parquet (``.parquet``/``.pq``) or CSV (``.csv``), atomically.

    The data go to a temporary file next to ``path`` that replaces ``path`` only when complete;
    on any failure or interruption the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    suffix = _suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = table_metadata(df)
    tmp = _temporary_name(path, "tmp")
    try:
        if suffix == ".csv":
            with open(tmp, "x", newline="") as fh:
                if meta:
                    fh.write(f"# {METADATA_KEY} {json.dumps(meta, sort_keys=True)}\n")
                df.to_csv(fh, index=False)
        else:
            _write_parquet(df, tmp, meta)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_parquet(df: pd.DataFrame, path: Path, meta: dict) -> None:
    arrow = {"int64": pa.int64(), "Int64": pa.int64(), "float64": pa.float64(),
             "float32": pa.float32(), "bool": pa.bool_()}
    schema = pa.schema([
        (c, pa.dictionary(pa.int32(), pa.string()) if c in STRING_COLUMNS else arrow[str(t)])
        for c, t in INTERACTION_SCHEMA.items()])
    # an explicit schema keeps all-NA categorical columns categorical on reading back
    table = pa.Table.from_pandas(apply_schema(df), schema=schema, preserve_index=False)
    kv = dict(table.schema.metadata or {})
    if meta:
        kv[METADATA_KEY.encode()] = json.dumps(meta, sort_keys=True).encode()
    pq.write_table(table.replace_schema_metadata(kv), path)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by :func:`write_table` back with the documented dtypes and metadata."""
    path = Path(path)
    meta: dict = {}
    if path.suffix.lower() == ".csv":
        skip = 0
        with open(path) as fh:
            first = fh.readline()
        prefix = f"# {METADATA_KEY} "
        if first.startswith(prefix):
            meta = json.loads(first[len(prefix):])
            skip = 1
        df = pd.read_csv(path, skiprows=skip, dtype={c: "string" for c in STRING_COLUMNS},
                         keep_default_na=False, na_values={"hydrogen": [""], "offset": [""],
                                                           "angle_deg": [""]})
        df["fallback"] = df["fallback"].astype(str).str.lower().eq("true")
    else:
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(METADATA_KEY.encode())
        if raw:
            meta = json.loads(raw)
        df = table.to_pandas()
    df.attrs = {}
    if meta:
        df.attrs[METADATA_KEY] = meta
    return apply_schema(df)
