"""Commands that read the library and need no model (nor torch): `models`, `dupes`, `status` and `forget`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clipgit.core.engine import Engine, Status



def models(engine: Engine, args: argparse.Namespace) -> int:
    from clipgit.core.models.recommended import IMMICH, RECOMMENDED, measured
    from clipgit.core.names import display_name

    figures = measured()
    counts = engine.catalog().vector_counts()
    in_use = engine.settings.clip_model
    rows = []
    for m in RECOMMENDED:
        f = figures.get(m.id, {})
        rows.append({"id": m.id, "family": m.family, "languages": m.languages, "in_use": m.id == in_use,
                     "vectors_in_library": counts.get(m.id, 0), "retrieval": m.retrieval, "retrieval_source": IMMICH,
                     "published_as": m.architecture, "note": m.note, **f})
    if in_use not in {m.id for m in RECOMMENDED}:
        rows.append({"id": in_use, "in_use": True, "vectors_in_library": counts.get(in_use, 0)})
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'':2}{'model':34}{'langs':14}{'dim':>5}{'download':>10}{'img/s':>8}{'query':>8}{'quality':>9}"
          f"{'vectors':>9}")
    for r in rows:
        mark = "* " if r["in_use"] else "  "
        known = "download_mb" in r  # measured: a recommended model; another one (a folder, the demo) is not
        print(f"{mark}{_model_label(str(r['id'])):34}{r.get('languages', '-'):14}{r.get('dim', '-'):>5}"
              f"{str(r['download_mb']) + ' MB' if known else '-':>10}{r.get('images_per_s', '-'):>8}"
              f"{str(r['text_ms']) + ' ms' if known else '-':>8}{r.get('retrieval') or '-':>9}"
              f"{r['vectors_in_library']:>9}")
    device = next((r["device"] for r in rows if "device" in r), "")
    print(f"\n* in use. img/s and query: measured by benchmarks/models.py on the project's machine ({device}), "
          f"full-size random weights; run it for this machine's. quality: {IMMICH} (higher is better). "
          "Switch with --clip-model ID (or clip_model in the config); vectors of each model are kept, so "
          "switching back is instant.")
    for r in rows:
        if r.get("note"):
            print(f"  {r['id']}: {r['note']}")
        elif _model_label(str(r["id"])) != r["id"]:  # the row could not show it whole
            print(f"  {_model_label(str(r['id']))}: {display_name(str(r['id']))}")
    return 0


def _model_label(model: str, width: int = 33) -> str:
    """A model as the table's first column shows it: `demo` for the shipped demo model, else its id, a
    long path cut at the front (its end names it), so the columns after it stay in line."""
    from clipgit.core.config import DEMO, DEMO_DIRS
    from clipgit.core.names import display_name

    if model == str(DEMO_DIRS["clip_model"]):
        return f"{DEMO} (colours and shapes)"
    shown = display_name(model)
    return shown if len(shown) <= width else "…" + shown[-(width - 1):]


def dupes(engine: Engine, args: argparse.Namespace) -> int:
    from clipgit.core.names import display_name
    from clipgit.tui.format import clock, human_size

    groups = engine.duplicates(threshold=args.threshold, folder=args.folder)
    if args.json:
        print(json.dumps([g.as_dict() for g in groups]))
        return 0
    if not groups:
        print(f"no near-identical images (cosine >= {args.threshold})", file=sys.stderr)
    for number, group in enumerate(groups, 1):
        kind = "exact copies" if group.exact else f"near-identical, cosine >= {group.similarity:.3f}"
        print(f"group {number}: {len(group.files)} files, {kind}")
        for f in group.files:
            pixels = f"{f.width}x{f.height}" if f.width and f.height else "?"
            taken = clock(f.taken, f.taken_offset, f.taken_from) if f.taken else "-"
            print(f"  {pixels:>11}  {human_size(f.size):>9}  {taken}  {display_name(f.path)}")
    return 0


def _device_line(engine: Engine, st: Status) -> str:
    """Where the model runs: `status` never loads one, so the settings ("auto") say little; a warm service with
    these settings knows the device and precision it chose."""
    if st.model_loaded:
        return f"{st.device} ({st.precision})"
    from clipgit.core.service.client import ServiceClient

    if ServiceClient.usable(engine.settings):
        client = ServiceClient(engine.settings)
        warm = client.status() if client.running() else None
        if warm and warm.get("models_loaded"):
            return f"{warm['device']} ({warm['precision']}) in the warm service"
    chosen = ": chosen when the model loads" if "auto" in (st.device, st.precision) else ""
    return f"{st.device} ({st.precision}){chosen}"


def _vector_index_line(vi: dict[str, object]) -> str:
    """Which kind of vector search answers: exact, or the approximate index with its size, age and recall."""
    from datetime import datetime

    cross = vi.get("crossover")
    if vi.get("wanted") != "ann":
        past = f"approximate index past {cross:,} images" if isinstance(cross, int) and cross else "on the GPU"
        why = "set so" if vi.get("setting") == "exact" else past
        return f"exact ({why})"
    built = vi.get("built")
    when = datetime.fromtimestamp(float(built)).strftime("%Y-%m-%d %H:%M") if isinstance(built, (int, float)) else "?"
    recall = f", recall@10 {vi['recall']:.3f}" if isinstance(vi.get("recall"), (int, float)) else ""
    count, size_bytes = vi.get("index_vectors"), vi.get("index_bytes")
    size = f"{count if isinstance(count, int) else 0:,} vectors, " \
           f"{(size_bytes if isinstance(size_bytes, int) else 0) / 2**20:.0f} MB"
    if vi.get("answering") == "ann":
        return f"approximate index ({size}, built {when}{recall}); `search --exact` checks it"
    state = "being built" if vi.get("building") else "stale or missing: rebuilt when the library is searched"
    return f"exact for now (approximate index {state})"


def status(engine: Engine, args: argparse.Namespace) -> int:
    from clipgit.core.config import config_file_path
    from clipgit.core.names import display_name

    st = engine.status()
    config = config_file_path()
    if args.json:
        print(json.dumps({**st.as_dict(), "config": str(config), "config_exists": config.is_file()}))
        return 0
    print(f"config     {display_name(str(config))}{'' if config.is_file() else ' (none: defaults, see the README)'}")
    print(f"data dir   {display_name(st.data_dir)}")
    print(f"CLIP model {display_name(st.clip_model)}")
    print(f"device     {_device_line(engine, st)}")
    print(f"images     {st.images} indexed, {st.skipped} skipped")
    print(f"search     {_vector_index_line(st.vector_index or {})}")
    print(f"captions   {st.captions} by {display_name(st.caption_model)}")
    print(f"text       {st.texts_read} images read by {st.ocr_model}, {st.with_text} with text")
    print(f"places     {st.places} photos with a place")
    print(f"folders    {len(st.folders)}")
    for f in st.folders:
        missing = "  (folder missing)" if not f.exists else "  (folder empty: not mounted?)" if f.empty else ""
        print(f"  {f.images:>8} images  {f.skipped:>5} skipped  {display_name(f.path)}{missing}")
        for path in f.forgotten:
            print(f"{'':34}forgotten: {display_name(path)} (index it to bring it back)")
    return 0


def forget(engine: Engine, args: argparse.Namespace) -> int:
    from clipgit.core.names import display_name
    from clipgit.tui.format import count

    dropped = {os.path.abspath(p).rstrip("/") or "/": engine.forget(p) for p in args.paths}
    kept_out = set(engine.catalog().excluded())  # parts of library folders: their rescans leave them out
    if args.json:
        print(json.dumps({"forgotten": [{"path": p, "files": n, "kept_out": p in kept_out}
                                        for p, n in dropped.items()]}))
    else:
        for path, n in dropped.items():
            until = f"; rescans leave it out until you index {display_name(path)}" if path in kept_out else ""
            print(f"forgot {display_name(path)} ({count(n, 'file')}{until})")
    return 0
