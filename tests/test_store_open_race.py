"""Several processes creating the same new store at once all succeed (SQLite answers "database is
locked" at once, not after its busy timeout, when two connections switch a new file to WAL)."""
from __future__ import annotations

import multiprocessing as mp

from skills_store.store import Store


def _open(path: str, run_id: str, out) -> None:
    try:
        store = Store(path)
        store.start_run(run_id, "cola", {}, "none")
        store.close()
        out.put("ok")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        out.put(repr(exc))


def test_processes_creating_one_store_at_once_all_succeed(tmp_path):
    ctx = mp.get_context("fork")
    failures = []
    for round_ in range(150):
        path = str(tmp_path / f"s{round_}.sqlite")
        out = ctx.Queue()
        procs = [ctx.Process(target=_open, args=(path, f"r{k}", out)) for k in range(3)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        results = [out.get(timeout=5) for _ in procs]
        failures += [r for r in results if r != "ok"]
        assert len(Store(path).runs()) == 3
    assert failures == []
