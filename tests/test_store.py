import sqlite3

import pytest

from engine.errors import SkillkilnError
from engine.records import Proposal
from skills_store.store import Store, parse_ref


def _metrics(val_mcc: float) -> dict:
    return {"train": {"mcc": 0.2}, "validation": {"mcc": val_mcc}}


def _offer(store: Store, code: str, val_mcc: float, name: str = "cola-x"):
    return store.offer_version(name, "cola", code, _metrics(val_mcc), {"accepted": True, "reasons": []},
                               ("parent-1",), {"run_id": "r1"}, None)


def test_versions_only_advance_when_validation_improves(store):
    v1 = _offer(store, "def solve(text):\n    return 0\n", 0.10)
    assert v1.version == 1
    assert _offer(store, "def solve(text):\n    return 1\n", 0.10) is None  # a tie is not better
    assert _offer(store, "def solve(text):\n    return 1\n", 0.05) is None
    v2 = _offer(store, "def solve(text):\n    return 1\n", 0.20)
    assert v2.version == 2
    assert store.get("cola-x").version == 2
    assert store.get("cola-x@1").code == "def solve(text):\n    return 0\n"
    assert [v.version for v in store.versions("cola-x")] == [1, 2]
    assert store.get("cola-x@2").code_sha256 == v2.code_sha256


def test_a_name_belongs_to_one_task(store):
    _offer(store, "def solve(text):\n    return 0\n", 0.1)
    with pytest.raises(SkillkilnError, match="belongs to task"):
        store.offer_version("cola-x", "sst2", "x", _metrics(0.9), {}, (), {}, None)


def test_missing_refs_are_clear(store):
    with pytest.raises(SkillkilnError, match="no skill 'nope'"):
        store.get("nope")
    _offer(store, "def solve(text):\n    return 0\n", 0.1)
    with pytest.raises(SkillkilnError, match=r"no version 7 .* \(it has version 1\)"):  # and what it does have
        store.get("cola-x@7")
    with pytest.raises(SkillkilnError):
        parse_ref("cola-x@latest")
    with pytest.raises(SkillkilnError, match="use NAME or NAME@VERSION"):
        parse_ref("cola-x@")


def test_names_that_would_not_parse_are_refused(store):
    for bad in ("weird@name", "file:/tmp/x.csv-offline", "-x", "a b", "", "x" * 101):
        with pytest.raises(SkillkilnError, match="bad skill name"):
            _offer(store, "def solve(text):\n    return 0\n", 0.1, name=bad)
    assert store.latest_versions() == []
    assert _offer(store, "def solve(text):\n    return 0\n", 0.1, name="cola_rules.v2-b").version == 1


def test_a_stored_name_with_an_at_sign_still_lists(store):
    """A store written before names were checked may hold 'weird@name': listing must not fail on it."""
    _offer(store, "def solve(text):\n    return 0\n", 0.1, name="weird")
    db = sqlite3.connect(store.path)  # foreign keys are off in a plain connection
    with db:
        for table in ("skills", "skill_versions", "events"):
            db.execute(f"UPDATE {table} SET name = 'weird@name' WHERE name = 'weird'")
    db.close()
    assert [v.name for v in store.latest_versions()] == ["weird@name"]
    assert store.get("weird@name@1").version == 1


def test_default_names_are_store_names():
    from engine.config import default_skill_name

    assert default_skill_name("cola", "offline") == "cola-offline"
    assert default_skill_name("file:/data/v@2/reviews.csv", "anthropic") == "file-reviews-anthropic"
    assert default_skill_name("hf:nyu-mll/glue", "offline") == "hf-glue-offline"


def test_runs_and_candidates_round_trip(store):
    store.start_run("r1", "cola", {"iters": 2}, "docker")
    store.add_candidate({
        "id": "r1-000-0", "run_id": "r1", "iteration": 0, "code": "c", "code_sha256": "h", "parent_ids": (),
        "proposer": "offline", "model": "m", "note": "n", "prompt_tokens": 0, "completion_tokens": 0,
        "stage": "train", "accepted": 0, "reasons": ("constant_output:train",), "verdict": {"accepted": False},
        "sandbox_s": 0.1,
    })
    store.finish_run("r1", "finished", {"accepted_count": 0})
    assert store.runs()[0]["status"] == "finished"
    assert store.candidates("r1")[0]["reasons"] == '["constant_output:train"]'


def test_candidates_come_back_in_the_order_the_run_made_them(store):
    """Slot 10 after slot 9, not after slot 1: --resume rebuilds the population in this order, and a
    population built in another order proposes differently (a resumed --batch 11 run did)."""
    store.start_run("r1", "cola", {"iters": 2}, "docker")
    made = [f"r1-seed-{k}" for k in range(12)] + [f"r1-{i:03d}-{k}" for i in (0, 1) for k in range(12)]
    for cand_id in made:
        iteration = -1 if "seed" in cand_id else int(cand_id.split("-")[1])
        store.add_candidate({
            "id": cand_id, "run_id": "r1", "iteration": iteration, "code": "c", "code_sha256": cand_id,
            "parent_ids": (), "proposer": "offline", "model": "m", "note": "", "prompt_tokens": 0,
            "completion_tokens": 0, "stage": "train", "accepted": 0, "reasons": (), "verdict": {}, "sandbox_s": 0.1})
    assert [r["id"] for r in store.candidates("r1")] == made


def test_corrupt_file_is_a_clear_error_and_left_alone(tmp_path):
    path = tmp_path / "store.sqlite"
    path.write_bytes(b"this is not a database, " * 100)
    before = path.read_bytes()
    with pytest.raises(SkillkilnError, match="corrupt"):
        Store(path)
    assert path.read_bytes() == before


def test_foreign_sqlite_file_is_refused_untouched(tmp_path):
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (x)")
    db.commit()
    db.close()
    with pytest.raises(SkillkilnError, match="not a skillkiln store"):
        Store(path)
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master")] == ["notes"]


def test_store_survives_reopen_in_wal_mode(tmp_path):
    path = tmp_path / "s.sqlite"
    s = Store(path)
    _offer(s, "def solve(text):\n    return 0\n", 0.3)
    s.close()
    s2 = Store(path)
    assert s2.get("cola-x").version == 1
    assert s2._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _damaged_store(tmp_path, skill: bool = False):
    """A store whose file holds 200 candidates (and with SKILL, first a skill cola-x@1), with 8 kB of
    garbage written over pages in its middle."""
    path = tmp_path / "store.sqlite"
    store = Store(path)
    if skill:
        metrics = {"mcc": 0.1, "accuracy": 0.7, "f1": 0.8, "balanced_accuracy": 0.55, "n": 10, "majority_accuracy": 0.7,
                   "p_value": 0.01}
        store.offer_version("cola-x", "cola", "def solve(text):\n    return 1\n", {"validation": metrics},
                            {"accepted": True}, (), {}, None)
    store.start_run("r1", "cola", {"iters": 2}, "docker")
    for i in range(200):
        code = f"def solve(text):\n    return {i}  # " + "x" * 400 + "\n"
        store.add_candidate({
            "id": f"r1-{i:03d}-0", "run_id": "r1", "iteration": i, "code": code, "code_sha256": "h",
            "parent_ids": (), "proposer": "offline", "model": "m", "note": "n", "prompt_tokens": 0,
            "completion_tokens": 0, "stage": "train", "accepted": 0, "reasons": ("constant_output:train",),
            "verdict": {"accepted": False}, "sandbox_s": 0.1})
    store.close()
    data = bytearray(path.read_bytes())
    assert len(data) > 64 * 1024
    data[40960:40960 + 8192] = bytes(range(256)) * 32
    path.write_bytes(bytes(data))
    return path


def test_a_damaged_store_is_not_written_to(tmp_path):
    path = _damaged_store(tmp_path)
    before = path.read_bytes()
    store = Store(path)  # reading may still work
    with pytest.raises(SkillkilnError, match="is damaged"):
        store.check_writable()
    store.close()
    assert path.read_bytes() == before


def test_a_run_knows_whether_its_process_lives(store, tmp_path):
    import json
    import subprocess
    import sys

    from skills_store import owner

    store.start_run("mine", "cola", {}, "local")
    assert store.process(store.run("mine")) == "alive"  # this process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = owner.identity()
    dead["pid"] = child.pid  # a pid that just ended (and, if reused, with another start time)
    with store.transaction() as db:
        db.execute("UPDATE runs SET owner = ? WHERE id = 'mine'", (json.dumps(dead),))
    assert store.process(store.run("mine")) == "gone"
    with store.transaction() as db:
        db.execute("UPDATE runs SET owner = ? WHERE id = 'mine'", (json.dumps({**dead, "host": "elsewhere"}),))
    assert store.process(store.run("mine")) == "unknown"
    store.finish_run("mine", "finished", {})
    assert store.process(store.run("mine")) is None


def test_of_two_resumes_of_a_dead_run_one_claims_it(tmp_path):
    import json
    import os
    import subprocess
    import sys

    from skills_store import owner

    path = tmp_path / "s.sqlite"
    first, second = Store(path), Store(path)  # two processes' connections, as two `evolve --resume` hold
    first.start_run("dead", "cola", {}, "local")
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with first.transaction() as db:  # its process died, its status says interrupted
        db.execute("UPDATE runs SET owner = ?, status = 'interrupted' WHERE id = 'dead'",
                   (json.dumps({**owner.identity(), "pid": child.pid}),))
    assert first.claim_run("dead") is None  # the first claims it
    assert json.loads(first.run("dead")["owner"])["pid"] == os.getpid()
    assert second.claim_run("dead") == os.getpid()  # the second finds a live owner (status aside) and backs off


def test_a_description_reads_as_one_sentence_and_lists_words_not_names():
    """'... else 1.; uses re' and a table's own keys ('NAMES', 'PLACES') listed as words looked for."""
    from skills_store.describe import describe

    code = ('"""Rule skill: a score at or above THRESHOLD means label 0, else 1."""\nimport re\n'
            'WORDS = {"NAMES": "a|b", "PLACES": "c"}\nCUES = {"himself": 2}\nRULES = [("PERSON", r"x")]\n\n\n'
            'def solve(text):\n    return 1\n')
    text = describe(code, "cola")
    assert text.startswith("Rule skill: a score at or above THRESHOLD means label 0, else 1; uses re; looks for ")
    assert "'himself'" in text and "'PERSON'" in text and "NAMES" not in text and "PLACES" not in text


def test_a_copy_of_the_file_alone_holds_every_finished_iteration(tmp_path):
    """Fault audit: with the store open, a run's candidates lived only in the -wal file, so a copy of the .sqlite
    file (a backup, a -wal deleted by hand) held no trace of the run. The loop checkpoints after each iteration
    and each run."""
    import shutil

    store = Store(tmp_path / "s.sqlite")
    store.start_run("r1", "cola", {"iters": 1}, "docker")
    store.add_candidate({
        "id": "r1-000-0", "run_id": "r1", "iteration": 0, "code": "def solve(text):\n    return 1\n",
        "code_sha256": "h", "parent_ids": (), "proposer": "offline", "model": "m", "note": "n", "prompt_tokens": 0,
        "completion_tokens": 0, "stage": "train", "accepted": 0, "reasons": ("constant_output:train",),
        "verdict": {"accepted": False}, "sandbox_s": 0.1})
    store.checkpoint()  # as Run.execute after each iteration
    shutil.copy(tmp_path / "s.sqlite", tmp_path / "copy.sqlite")
    store.finish_run("r1", "finished", {"candidates": 1})
    shutil.copy(tmp_path / "s.sqlite", tmp_path / "after.sqlite")
    store.close()
    copy = Store(tmp_path / "copy.sqlite")
    assert [r["id"] for r in copy.candidates("r1")] == ["r1-000-0"] and copy.run("r1")["status"] == "running"
    assert Store(tmp_path / "after.sqlite").run("r1")["status"] == "finished"


def test_verify_reads_the_calls_and_the_pending_proposals(tmp_path):
    """A resume reads both: skills verify says which one is damaged (it said ok)."""
    store = Store(tmp_path / "s.sqlite")
    store.start_run("r1", "cola", {}, "local")
    store.put_pending("r1", 0, 0, Proposal(code="def solve(text):\n    return 1\n", proposer="anthropic"))
    store.add_call("r1", 0, "creator", "anthropic", "m", 10, 5, 0.001, "ab" * 32, {"text": "x", "model": "m"})
    assert store.verify() == [] and [r["seq"] for r in store.calls("r1")] == [0]
    with store.transaction() as db:
        db.execute("INSERT INTO pending (run_id, iteration, slot, proposal) VALUES ('r1', 0, 1, 'null')")
        db.execute("UPDATE calls SET answer = '{cut' WHERE run_id = 'r1'")
    problems = store.verify()
    assert len(problems) == 2 and "iteration 0 slot 1 is unreadable" in problems[0] and "model call 0" in problems[1]
    store.close()
