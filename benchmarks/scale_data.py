"""The synthetic library of benchmarks/scale.py: vectors shaped like CLIP's, text-like queries, filters.

Unit vectors in clusters of lognormal sizes inside topics, every image vector in one cone and text-like
queries in another (the modality gap), near-duplicate bursts planted; stored fp16 in a memory-mapped .npy,
made once per size and kept. Apart from scale.py so that file holds the measuring only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SELECTIVITIES = (0.001, 0.01, 0.1, 0.5)
N_QUERIES = 200  # of each kind: image-like, text-like
CHUNK = 131_072


class World:
    """The synthetic geometry, fixed by a seed (torch: several times faster than numpy here). Topics hold
    clusters of lognormal sizes, clusters hold scenes; an image's nearest neighbours (cosine about 0.85)
    are mostly its scene's, its cosine to a random image about 0.35."""

    def __init__(self, n: int, dim: int = 512, seed: int = 0) -> None:
        import torch

        self.torch, self.dim, g = torch, dim, torch.Generator().manual_seed(seed)
        clusters, topics, scenes = max(200, n // 500), 100, max(500, n // 25)
        basis = torch.linalg.qr(torch.randn(dim, 40, generator=g))[0].T.contiguous()
        self.img_cone = basis[0]
        self.txt_cone = 0.25 * basis[0] + (1 - 0.25**2) ** 0.5 * basis[1]  # text-image cosine ~0.1 at random
        self.strong = basis[2:34] * torch.linspace(1.0, 0.3, 32)[:, None]
        self.noise_norm = float((1 + (self.strong**2).sum() / 32) ** 0.5)

        def unit_perp(k: int):  # directions apart from both cones
            v = torch.randn(k, dim, generator=g)
            v -= torch.outer(v @ basis[0], basis[0]) + torch.outer(v @ basis[1], basis[1])
            return v / v.norm(dim=1, keepdim=True)

        topic_of = torch.randint(0, topics, (clusters,), generator=g)
        sem = 0.45 * unit_perp(topics)[topic_of] + 0.55 * unit_perp(clusters)
        self.sem = sem / sem.norm(dim=1, keepdim=True)
        self.centres = 0.77 * self.img_cone + (1 - 0.77**2) ** 0.5 * self.sem
        sizes = torch.empty(clusters).log_normal_(0, 1.2, generator=g)
        self.cum = torch.cumsum(sizes / sizes.sum(), 0)
        # scenes (an event, a burst, one subject on one day): a cluster's centre moved in a shared 48-d space
        # of looks; images are scattered around their scene, most tightly in small ones
        self.scene_cluster = torch.clamp(torch.searchsorted(self.cum, torch.rand(scenes, generator=g)),
                                         max=clusters - 1)
        weights = torch.empty(scenes).log_normal_(0, 1.0, generator=g)
        self.scene_cum = torch.cumsum(weights / weights.sum(), 0)
        self.looks = unit_perp(48) / 48**0.5
        self.scene_at = torch.randn(scenes, 48, generator=g)
        self.sigma = torch.empty(scenes).uniform_(0.45, 0.8, generator=g)
        self.g = g

    def noise(self, k: int):
        t = self.torch
        n = t.randn(k, self.dim, generator=self.g) / self.dim**0.5
        return (n + (t.randn(k, 32, generator=self.g) / 32**0.5) @ self.strong) / self.noise_norm

    def labels(self, k: int):
        return self.torch.clamp(self.torch.searchsorted(self.cum, self.torch.rand(k, generator=self.g)),
                                max=len(self.cum) - 1)

    def images(self, k: int):
        t = self.torch
        scene = t.clamp(t.searchsorted(self.scene_cum, t.rand(k, generator=self.g)), max=len(self.scene_cum) - 1)
        x = self.centres[self.scene_cluster[scene]] + 0.6 * self.scene_at[scene] @ self.looks
        x += self.sigma[scene, None] * self.noise(k)
        return x / x.norm(dim=1, keepdim=True)

    def texts(self, k: int):
        t = self.torch
        mix = t.rand(k, 1, generator=self.g)  # many a query fits two clusters
        sem = self.sem[self.labels(k)] + mix * self.sem[self.labels(k)]
        sem = sem / sem.norm(dim=1, keepdim=True)
        q = 0.8 * self.txt_cone + 0.25 * sem + 0.4 * t.randn(k, self.dim, generator=self.g) / self.dim**0.5
        return q / q.norm(dim=1, keepdim=True)


def make_data(folder: Path, n: int) -> Path:
    """Vectors, ids, planted groups, queries, exact answers (plain and per filter), made once."""
    if (folder / "complete").exists():
        return folder
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    world, rng = World(n), np.random.default_rng(1)
    mm = np.lib.format.open_memmap(folder / "vectors.npy", mode="w+", dtype=np.float16, shape=(n, 512))
    for s in range(0, n, CHUNK):
        mm[s:s + CHUNK] = world.images(min(CHUNK, n - s)).half().numpy()
    ids = np.cumsum(1 + (rng.random(n) < 0.05)).astype(np.int64)  # gaps, as after deletions
    sizes = rng.integers(2, 6, max(100, n // 1000))
    rows = rng.permutation(n)[: sizes.sum()]
    for group in np.split(rows, np.cumsum(sizes)[:-1]):
        eps = rng.uniform(0.12, 0.22)
        base = mm[group[0]].astype(np.float32)
        copies = base + eps * rng.standard_normal((len(group) - 1, 512)).astype(np.float32) / np.sqrt(512)
        mm[group[1:]] = copies / np.linalg.norm(copies, axis=1, keepdims=True)
    mm.flush()
    np.save(folder / "ids.npy", ids)
    np.savez(folder / "groups.npz", rows=rows, sizes=sizes)
    queries = torch.cat([world.images(N_QUERIES), world.texts(N_QUERIES)]).numpy().astype(np.float32)
    np.save(folder / "queries.npy", queries)
    masks = [rng.random(n) < s for s in SELECTIVITIES]
    for s, mask in zip(SELECTIVITIES, masks):
        np.save(folder / f"allow-{s}.npy", ids[mask])
    top, ftop, scores = exact_answers(mm, queries, 10, masks)
    np.save(folder / "truth.npy", ids[top])
    np.save(folder / "truth-scores.npy", scores)
    np.save(folder / "ftruth.npy", ids[ftop])
    (folder / "complete").write_text("ok")
    return folder


def exact_answers(mm: np.ndarray, queries: np.ndarray, k: int, masks: list[np.ndarray] | None = None):
    """Row numbers of the exact top-k per query, and of the top-1 inside each mask (float32, chunked)."""
    import torch

    q = torch.from_numpy(queries)
    best_s, best_i = torch.full((len(q), k), -9.0), torch.zeros((len(q), k), dtype=torch.long)
    masks = masks or []
    f_s, f_i = torch.full((len(masks), len(q)), -9.0), torch.zeros((len(masks), len(q)), dtype=torch.long)
    for s in range(0, len(mm), CHUNK):
        sc = q @ torch.from_numpy(np.asarray(mm[s:s + CHUNK], dtype=np.float32)).T
        v, i = sc.topk(min(k, sc.shape[1]), dim=1)
        cs, ci = torch.cat([best_s, v], 1), torch.cat([best_i, i + s], 1)
        best_s, o = cs.topk(k, dim=1)
        best_i = torch.gather(ci, 1, o)
        for j, mask in enumerate(masks):
            m = torch.from_numpy(mask[s:s + CHUNK])
            if m.any():
                v1, i1 = sc[:, m].max(dim=1)
                rows = torch.nonzero(m)[:, 0][i1] + s
                better = v1 > f_s[j]
                f_s[j], f_i[j] = torch.where(better, v1, f_s[j]), torch.where(better, rows, f_i[j])
    return best_i.numpy(), f_i.numpy(), best_s.numpy()
