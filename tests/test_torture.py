"""The torture test: real processes at once over a library that changes underneath them, with kill -9s.

Each round makes, changes, renames and deletes files, runs two to four of `index` (through the service or
in-process), `index --watch`, `forget`, `search`, `similar` and `dupes` at the same time, kills writers and
the service at random points, and then checks what must always hold (as SQLite's own tests check their
invariants after every injected fault):
- the catalog passes `integrity_check`, each file is in it once, and in the vectors once;
- the vectors a new process opens (snapshot and replay) hold exactly the catalog's embeddings, with no
  rebuild needed; the triggers' figures agree with the rows;
- `search`, `similar` and `dupes` never list a path twice, nor group a file with itself;
- an `index` that exited 0 left every file it was given (and nobody touched meanwhile) embedded or
  recorded as skipped; a command that did not finish says so in one line and exits non-zero.

CI runs it with a fixed seed for about a minute; `pytest tests/test_torture.py --torture-minutes 30 -s` runs
longer and prints how many rounds, kills and overlapping commands it survived (`--torture-seed N` to vary).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clipgit.core.config import Settings
from clipgit.core.service import registry
from clipgit.core.service.client import ServiceClient
from clipgit.core.store.catalog import Catalog
from tests.conftest import cli_env, cli_path, library_problems, listed_twice, make_photos

pytestmark = pytest.mark.slow


@dataclass
class Job:
    args: list[str]
    proc: subprocess.Popen[str]
    started: float
    kind: str  # "writer" (index, forget, watch) or "reader"
    killed: bool = False
    ended: float = 0.0
    out: str = ""
    err: str = ""


@dataclass
class Tally:
    rounds: int = 0
    commands: int = 0
    writer_kills: int = 0
    service_kills: int = 0
    overlaps: int = 0  # pairs of commands of a round that ran at the same time
    interrupted_reported: int = 0  # commands that said, in one line, that they did not finish
    problems: list[str] = field(default_factory=list)


class Library:
    """The files on disk: what the round does to them, and which ones nobody touched since a moment."""

    def __init__(self, root: Path, rng: random.Random) -> None:
        self.root = root
        self.rng = rng
        self.next_seed = 1000
        self.touched: set[str] = set()  # paths changed, made, renamed or removed during this round
        self.forgotten: set[str] = set()  # folders ever forgotten: rescans leave them out until indexed again
        for sub in ("a", "b", "c"):
            make_photos(root / sub, 8, start=self._seeds(8))

    def _seeds(self, n: int) -> int:
        self.next_seed += n
        return self.next_seed - n

    def files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*.png"))

    def mutate(self, steps: int) -> None:
        for _ in range(steps):
            files = self.files()
            action = self.rng.choice(["add", "add", "change", "rename", "delete"] if files else ["add"])
            if action == "add":
                folder = self.root / self.rng.choice(["a", "b", "c", "c/deep"])
                made = make_photos(folder, self.rng.randint(1, 3), start=self._seeds(3))
                self.touched.update(str(p) for p in made)
                continue
            victim = self.rng.choice(files)
            self.touched.add(str(victim))
            if action == "change":
                make_photos(victim.parent, 1, start=self._seeds(1))[0].replace(victim)
            elif action == "rename":
                target = victim.with_name(f"moved_{self._seeds(1)}.png")
                victim.rename(target)
                self.touched.add(str(target))
            else:
                victim.unlink()


def test_torture(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    minutes = float(request.config.getoption("--torture-minutes"))
    seed = int(request.config.getoption("--torture-seed"))
    budget = minutes * 60 if minutes > 0 else 55.0
    rng = random.Random(seed)
    lib = Library(tmp_path / "lib", rng)
    base_env = {**cli_env(settings), "CLIPGIT_BATCH_SIZE": "4"}
    tally = Tally()
    end = time.monotonic() + budget
    try:
        while time.monotonic() < end and not tally.problems:
            _round(lib, base_env, settings, rng, tally)
    finally:
        ServiceClient(settings).stop()
    print(f"\ntorture seed {seed}: {tally.rounds} rounds, {tally.commands} commands, {tally.overlaps} overlapping "
          f"pairs, {tally.writer_kills} writers and {tally.service_kills} services killed with -9, "
          f"{tally.interrupted_reported} interruptions reported")
    assert tally.problems == [], tally.problems
    assert tally.rounds >= 2


def _round(lib: Library, base_env: dict[str, str], settings: Settings, rng: random.Random, tally: Tally) -> None:
    lib.touched = set()
    lib.mutate(rng.randint(0, 4))
    before = {str(p) for p in lib.files()}
    forgotten = lib.forgotten
    jobs: list[Job] = []
    for _ in range(rng.randint(2, 4)):
        args, kind, env = _pick(lib, rng, base_env, forgotten)
        proc = subprocess.Popen([cli_path(), *args], env=env, text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        jobs.append(Job(args, proc, time.monotonic(), kind))
        time.sleep(rng.uniform(0.0, 0.6))
    time.sleep(rng.uniform(0.2, 2.0))
    lib.mutate(rng.randint(0, 3))
    if rng.random() < 0.5:  # kill -9 a writer or the service, mid-way
        _kill_one(jobs, rng, tally)
    deadline = time.monotonic() + 150
    for job in jobs:
        if job.args[:2] == ["index", "--watch"]:
            time.sleep(rng.uniform(0.5, 1.5))
            job.proc.send_signal(signal.SIGINT if rng.random() < 0.5 else signal.SIGKILL)
            job.killed = True
        try:
            job.out, job.err = job.proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            job.proc.kill()
            job.out, job.err = job.proc.communicate()
            tally.problems.append(f"round {tally.rounds}: {job.args} hung")
        job.ended = time.monotonic()
    tally.rounds += 1
    tally.commands += len(jobs)
    tally.overlaps += sum(1 for i, a in enumerate(jobs) for b in jobs[i + 1:]
                          if a.started < b.ended and b.started < a.ended)
    for job in jobs:
        tally.problems += [f"round {tally.rounds}: {p}" for p in _job_problems(job, tally)]
    tally.problems += [f"round {tally.rounds}: {p}" for p in library_problems(settings.data_dir, settings.clip_model)]
    ends = [f"{' '.join(j.args[:2])} -> {'killed' if j.killed else j.proc.returncode}" for j in jobs]
    print(f"round {tally.rounds}: " + "; ".join(ends), flush=True)
    stable = before - lib.touched
    for job in jobs:
        if job.args[0] == "index" and "--watch" not in job.args and job.proc.returncode == 0:
            tally.problems += [f"round {tally.rounds}: {job.args} exited 0 but {p}"
                               for p in _unindexed(settings, job.args[1], stable, forgotten)]


def _pick(lib: Library, rng: random.Random, base_env: dict[str, str],
          forgotten: set[str]) -> tuple[list[str], str, dict[str, str]]:
    env = dict(base_env, CLIPGIT_SERVICE="1" if rng.random() < 0.5 else "0")
    root = str(lib.root)
    files = lib.files()
    choice = rng.choice(["index", "index", "index-sub", "watch", "forget", "search", "similar", "dupes"])
    if choice == "index":
        return ["index", root, "--json"], "writer", env
    if choice == "index-sub":
        return ["index", str(lib.root / rng.choice(["a", "b", "c"])), "--json"], "writer", env
    if choice == "watch":
        return ["index", "--watch", root, "--no-service", "-q"], "writer", env
    if choice == "forget":
        sub = str(lib.root / rng.choice(["b", "c/deep"]))
        forgotten.add(sub)
        return ["forget", sub], "writer", env
    if choice == "similar" and files:
        return ["similar", str(rng.choice(files)), "--json", "-n", "50"], "reader", env
    if choice == "dupes":
        return ["dupes", "--json", "--threshold", "0.3"], "reader", env
    return ["search", "red", "--json", "-n", "50"], "reader", env


def _kill_one(jobs: list[Job], rng: random.Random, tally: Tally) -> None:
    services = registry.services()
    writers = [j for j in jobs if j.kind == "writer" and j.proc.poll() is None and "--watch" not in j.args]
    if services and (not writers or rng.random() < 0.5):
        os.kill(int(services[0]["pid"]), signal.SIGKILL)
        tally.service_kills += 1
    elif writers:
        victim = rng.choice(writers)
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.killed = True
        tally.writer_kills += 1


def _job_problems(job: Job, tally: Tally) -> list[str]:
    rc = job.proc.returncode
    if job.killed:
        return []
    if "Traceback" in job.err:
        return [f"{job.args} printed a traceback: {job.err[-400:]}"]
    if rc in (1, 2):  # a missing file given to similar, a folder forgotten twice: said in one line
        lines = [line for line in job.err.splitlines() if line.startswith("clipgit-tui: error:")]
        if len(lines) != 1:
            return [f"{job.args} failed without a one-line error: {job.err[-400:]!r}"]
        tally.interrupted_reported += 1
        return []
    if rc != 0:
        return [f"{job.args} exited {rc}: {job.err[-400:]!r}"]
    if job.kind == "reader":
        results = json.loads(job.out)
        if job.args[0] == "dupes":
            return [f"dupes groups a file with itself: {g}" for g in results
                    if listed_twice([f["path"] for f in g["files"]])]
        twice = listed_twice([r["path"] for r in results])
        return [f"{job.args[0]} lists {twice} twice"] if twice else []
    return []


def _unindexed(settings: Settings, root: str, stable: set[str], forgotten: set[str]) -> list[str]:
    """Files under `root` that nobody touched this round, not forgotten, and yet not in the library."""
    cat = Catalog(settings.db_path)
    try:
        missing = []
        for path in sorted(stable):
            if not path.startswith(root.rstrip("/") + "/") or any(path.startswith(f + "/") for f in forgotten):
                continue
            row = cat.image_by_path(path)
            if row is None or (row.error is None and cat.embedding(row.id, settings.clip_model) is None):
                missing.append(f"{path} is not indexed")
        return missing
    finally:
        cat.close()
