"""The in-memory matrix of one model's vectors, exact top-k, and its snapshot file.

Why a snapshot beside the catalog: reading a million 2 KB blobs out of SQLite
takes many seconds, while one fp16 matrix file loads in a fraction of one.
The catalog stays the truth: the snapshot records the last embedding and
removal it has seen, and `refresh` replays only what came after, so vectors
written by another process (or an index run in progress) show up in search.
fp16 halves memory and is the fastest CPU matvec we measured (about 30 ms for
1M x 512 on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from pathlib import Path

import numpy as np

from .catalog import Catalog

SNAPSHOT_DELTA = 5_000  # rewrite the snapshot once this many rows changed since it


class VectorIndex:
    def __init__(self, model: str, snapshot_dir: Path) -> None:
        self.model = model
        key = hashlib.sha1(model.encode("utf-8")).hexdigest()[:16]
        self._base = snapshot_dir / f"vectors-{key}"
        self._lock = threading.RLock()
        self.dim = 0
        self._n = 0
        self._mat = np.zeros((0, 0), dtype=np.float16)
        self._ids = np.zeros(0, dtype=np.int64)
        self._seqs = np.zeros(0, dtype=np.int64)
        self._alive = np.zeros(0, dtype=bool)
        self._last_seq = 0
        self._last_removal = 0
        self._delta = 0
        self._loaded = False

    # loading -------------------------------------------------------------
    def refresh(self, catalog: Catalog) -> None:
        """Bring the matrix up to date with the catalog (cheap when nothing changed)."""
        with self._lock:
            if not self._loaded:
                self._load_snapshot()
                self._loaded = True
            removals = catalog.removals_after(self.model, self._last_removal)
            if removals:
                gone = np.fromiter((r[1] for r in removals), dtype=np.int64, count=len(removals))
                self._alive[: self._n] &= ~np.isin(self._seqs[: self._n], gone)
                self._last_removal = removals[-1][0]
                self._delta += len(removals)
            self._append(catalog)
            if self._delta >= SNAPSHOT_DELTA:
                self.save_snapshot()

    def _append(self, catalog: Catalog) -> None:
        rows = catalog.embeddings_after(self.model, self._last_seq)
        while True:
            chunk = rows.fetchmany(20_000)
            if not chunk:
                return
            dim = len(chunk[0][2]) // 4
            if self.dim == 0:
                self.dim = dim
                self._mat = np.zeros((0, dim), dtype=np.float16)
            vecs = np.frombuffer(b"".join(r[2] for r in chunk), dtype=np.float32).reshape(len(chunk), dim)
            self._grow(self._n + len(chunk))
            sl = slice(self._n, self._n + len(chunk))
            self._mat[sl] = vecs
            self._ids[sl] = [r[1] for r in chunk]
            self._seqs[sl] = [r[0] for r in chunk]
            self._alive[sl] = True
            self._n += len(chunk)
            self._last_seq = chunk[-1][0]
            self._delta += len(chunk)

    def _grow(self, need: int) -> None:
        cap = len(self._ids)
        if need <= cap:
            return
        new_cap = max(need, int(cap * 1.5) + 1024)
        mat = np.zeros((new_cap, self.dim), dtype=np.float16)
        mat[: self._n] = self._mat[: self._n]
        self._mat = mat
        for name, dtype in (("_ids", np.int64), ("_seqs", np.int64), ("_alive", bool)):
            arr = np.zeros(new_cap, dtype=dtype)
            arr[: self._n] = getattr(self, name)[: self._n]
            setattr(self, name, arr)

    def _load_snapshot(self) -> None:
        meta_path = Path(str(self._base) + ".json")
        try:
            meta = json.loads(meta_path.read_text())
            n, dim = int(meta["count"]), int(meta["dim"])
            mat = np.fromfile(str(self._base) + ".f16", dtype=np.float16)
            rows = np.fromfile(str(self._base) + ".rows", dtype=np.int64)
            if mat.size != n * dim or rows.size != 2 * n or meta.get("model") != self.model:
                return
        except (OSError, ValueError, KeyError, TypeError):
            return  # no usable snapshot: rebuild from the catalog
        self.dim = dim
        self._mat = mat.reshape(n, dim)
        self._ids = rows[:n].copy()
        self._seqs = rows[n:].copy()
        self._alive = np.ones(n, dtype=bool)
        self._n = n
        self._last_seq = int(meta["last_seq"])
        self._last_removal = int(meta["last_removal"])

    def save_if_changed(self) -> None:
        with self._lock:
            if self._delta or not Path(str(self._base) + ".json").exists():
                self.save_snapshot()

    def save_snapshot(self) -> None:
        """Write live rows atomically; a crash mid-write leaves the old snapshot."""
        with self._lock:
            keep = np.flatnonzero(self._alive[: self._n])
            mat, ids, seqs = self._mat[keep], self._ids[keep], self._seqs[keep]
            self._mat, self._ids, self._seqs = mat, ids, seqs
            self._alive = np.ones(len(keep), dtype=bool)
            self._n = len(keep)
            self._base.parent.mkdir(parents=True, exist_ok=True)
            meta = {"model": self.model, "count": self._n, "dim": self.dim,
                    "last_seq": self._last_seq, "last_removal": self._last_removal}
            for suffix, write in ((".f16", mat.tofile), (".rows", np.concatenate([ids, seqs]).tofile)):
                tmp = str(self._base) + suffix + ".tmp"
                write(tmp)
                os.replace(tmp, str(self._base) + suffix)
            tmp = str(self._base) + ".json.tmp"
            Path(tmp).write_text(json.dumps(meta))
            os.replace(tmp, str(self._base) + ".json")
            self._delta = 0

    def live(self) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, fp16 vectors) of every live row: a copy, for whole-library work such as duplicates."""
        with self._lock:
            keep = np.flatnonzero(self._alive[: self._n])
            return self._ids[keep].copy(), self._mat[keep].copy()

    # search --------------------------------------------------------------
    def top_k(self, query: np.ndarray, k: int, *, allow: np.ndarray | None = None,
              exclude: set[int] | frozenset[int] = frozenset()) -> list[tuple[int, float]]:
        """Best (image id, cosine) pairs; `allow` restricts to those image ids.

        torch's fp16 matvec is the fastest here, but importing torch costs seconds: a process that has
        not loaded it (`similar` on a library image needs no model) scores with numpy, in chunks.
        """
        with self._lock:
            n = self._n
            if n == 0 or k <= 0:
                return []
            if query.shape[-1] != self.dim:
                raise ValueError(f"query has {query.shape[-1]} dimensions, library vectors {self.dim}")
            scores = _scores(self._mat[:n], query)
            dead = ~self._alive[:n]
            if allow is not None:
                dead = dead | ~np.isin(self._ids[:n], allow)
            if exclude:
                dead = dead | np.isin(self._ids[:n], np.fromiter(exclude, dtype=np.int64))
            scores[dead] = -np.inf
            k = min(k, n)
            rows = np.argpartition(-scores, k - 1)[:k]
            rows = rows[np.argsort(-scores[rows], kind="stable")]
            return [(int(self._ids[r]), float(scores[r])) for r in rows if scores[r] != -np.inf]


def _scores(mat: np.ndarray, query: np.ndarray) -> np.ndarray:
    """fp16 matrix times the query, as float32 scores."""
    if "torch" in sys.modules:
        import torch

        return (torch.from_numpy(mat) @ torch.from_numpy(query.astype(np.float16))).float().numpy()
    q = query.astype(np.float32)
    out = np.empty(len(mat), dtype=np.float32)
    for start in range(0, len(mat), 32_768):
        out[start:start + 32_768] = mat[start:start + 32_768].astype(np.float32) @ q
    return out


def as_blob(vector: np.ndarray) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32)


