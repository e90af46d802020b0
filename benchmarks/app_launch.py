"""Launch-to-first-results of the app, as one new process: run by benchmarks/latency.py and tests/test_served.py.

The clock starts before Python imports anything of ours (the parent passes its
own wall time at spawn, so interpreter start-up counts too) and stops when the
results of a query typed at launch are in the results list. Headless
(Textual's test driver, no pictures); settings come from the environment, as
for `clipgit-tui`.

    python benchmarks/app_launch.py SPAWN_TIME QUERY  ->  {"seconds": ..., "results": ..., "torch": ...}
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def probe(spawned: float, query: str) -> dict[str, object]:
    from textual.widgets import Input

    from clipgit.core.config import Settings
    from clipgit.core.engine import Engine
    from clipgit.core.service.client import ServiceClient
    from clipgit.core.service.served_engine import ServedEngine
    from clipgit.tui.app import ClipGitApp
    from clipgit.tui.panes.search import SearchPane

    settings = Settings.load()
    engine = ServedEngine(settings) if ServiceClient.usable(settings) else Engine(settings)
    app = ClipGitApp(engine, show_images=False)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            # the query arrives at once, as keys typed ahead (or pasted) do; pressing them one by one through
            # the test driver would time the driver
            app.query_one("#query", Input).insert_text_at_cursor(query)
            await pilot.press("enter")
            pane = app.query_one(SearchPane)
            while not pane.results:
                await pilot.pause(0.005)
            seconds = time.time() - spawned
            results = len(pane.results)
    finally:
        engine.close()
    return {"seconds": round(seconds, 3), "results": results, "torch": "torch" in sys.modules,
            "device": app.device}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(float(sys.argv[1]), sys.argv[2]))))
