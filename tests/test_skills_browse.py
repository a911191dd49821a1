"""Browsing and versioning the store through the `skills` commands (real SQLite, real processes)."""
from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import skill_code
from skills_store.store import Store
from test_cli import BIN, run

HONEST = skill_code("honest_rules.py")
WEAKER = HONEST.replace("THRESHOLD = 2", "THRESHOLD = 3")


@pytest.fixture
def filled(tmp_path):
    """A store with two versions of one skill and one rejected candidate, as a run leaves it."""
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.start_run("run-1", "cola", {"iters": 1}, "docker")
    store.add_candidate({
        "id": "run-1-000-0", "run_id": "run-1", "iteration": 0, "code": "def solve(text):\n    return 1\n",
        "code_sha256": __import__("hashlib").sha256(b"def solve(text):\n    return 1\n").hexdigest(),
        "parent_ids": (), "proposer": "offline", "model": "rules-v1", "note": "fresh", "prompt_tokens": 0,
        "completion_tokens": 0, "stage": "train", "accepted": 0, "reasons": ("constant_output:train",),
        "verdict": {"accepted": False, "reasons": ["constant_output:train"], "metrics": {},
                    "details": {"constant_output:train": "100.0% of outputs are 1 (limit 97%)"}},
        "sandbox_s": 0.1,
    })
    for code, val in ((WEAKER, 0.10), (HONEST, 0.15)):
        metrics = {s: {"accuracy": 0.7, "mcc": val, "f1": 0.8, "balanced_accuracy": 0.55, "n": 100,
                       "majority_accuracy": 0.7, "p_value": 0.001} for s in ("train", "validation", "test")}
        store.offer_version("cola-rules", "cola", code, metrics, {"accepted": True, "reasons": [], "details": {}},
                            ("run-1-000-0",), {"run_id": "run-1", "proposer": "offline"}, None,
                            description="rule skill with word weights and doubled-word pattern")
    store.finish_run("run-1", "finished", {"candidates": 1, "accepted_count": 0, "best": None})
    store.close()
    return str(path)


def test_history_pin_and_retire(filled):
    history = json.loads(run("skills", "history", "cola-rules", "--store", filled, "--json").stdout)
    assert [v["version"] for v in history["versions"]] == [1, 2]
    assert run("skills", "pin", "cola-rules@1", "--store", filled).returncode == 0
    shown = json.loads(run("skills", "show", "cola-rules", "--store", filled, "--json").stdout)
    assert shown["version"] == 1  # pinned beats latest
    assert (shown["pinned"], shown["retired"], shown["latest"]) == (True, False, 2)  # and show says so
    assert "cola-rules@1 · task cola" in (text := run("skills", "show", "cola-rules", "--store", filled).stdout)
    assert "· pinned · latest is @2" in text.splitlines()[0]
    listed = json.loads(run("skills", "list", "--store", filled, "--json").stdout)
    assert listed[0]["version"] == 1 and listed[0]["pinned"] is True
    assert run("skills", "unpin", "cola-rules", "--store", filled).returncode == 0
    assert json.loads(run("skills", "show", "cola-rules", "--store", filled, "--json").stdout)["version"] == 2
    again = run("skills", "unpin", "cola-rules", "--store", filled)
    assert again.returncode == 0 and "was not pinned; nothing changed" in again.stderr
    assert run("skills", "retire", "cola-rules", "--store", filled).returncode == 0
    assert "· retired" in run("skills", "show", "cola-rules", "--store", filled).stdout.splitlines()[0]
    assert json.loads(run("skills", "show", "cola-rules", "--store", filled, "--json").stdout)["retired"] is True
    twice = run("skills", "retire", "cola-rules", "--store", filled)
    assert twice.returncode == 0 and "already retired; nothing changed" in twice.stderr
    assert json.loads(run("skills", "list", "--store", filled, "--json").stdout) == []
    assert "all are retired (`skills list --all` shows them)" in run("skills", "list", "--store", filled).stderr
    assert len(json.loads(run("skills", "list", "--all", "--store", filled, "--json").stdout)) == 1
    events = json.loads(run("skills", "history", "cola-rules", "--store", filled, "--json").stdout)["events"]
    assert [e["action"] for e in events] == ["created", "created", "pinned", "unpinned", "retired"]
    assert all(e["actor"] for e in events)


def test_diff_shows_code_and_metric_change(filled):
    done = run("skills", "diff", "cola-rules@1", "cola-rules@2", "--store", filled)
    assert done.returncode == 0
    assert "-THRESHOLD = 3" in done.stdout and "+THRESHOLD = 2" in done.stdout
    assert "+0.050" in done.stdout


def test_diff_names_the_library_versions_when_they_differ(tmp_path):
    """Reuse audit: two versions with the same code on other library versions diffed as '(same code)' and nothing
    else, though they run other code."""
    store = Store(tmp_path / "s.sqlite")
    metrics = {"validation": {"mcc": 0.1}}
    code = "from skills import lib\n\n\ndef solve(text):\n    return lib.solve(text)\n"
    store.offer_version("lib", "cola", "def solve(text):\n    return len(text) % 2\n", metrics, {}, (), {}, None)
    store.offer_version("lib", "cola", "def solve(text):\n    return 1 - len(text) % 2\n", {"validation": {"mcc": 0.2}},
                        {}, (), {}, None)
    store.offer_version("user", "cola", code, metrics, {}, (), {}, None, dependencies={"lib": 1})
    store.offer_version("user", "cola", code, {"validation": {"mcc": 0.2}}, {}, (), {}, None, dependencies={"lib": 2})
    store.close()
    done = run("skills", "diff", "user@1", "user@2", "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 0 and "(same code)" in done.stdout
    assert "imports: user@1 lib@1; user@2 lib@2" in done.stdout


def test_diff_of_two_tasks_compares_no_scores(filled):
    """A span skill against a classification skill: each version's own metrics, no change column
    (span F1 against a binary F1 read as +0.313), and a line that says why."""
    store = Store(filled)
    spans = {s: {"precision": 0.7, "recall": 0.3, "f1": 0.45, "overlap_f1": 0.5, "baseline_capitalised_f1": 0.1}
             for s in ("train", "validation", "test")}
    store.offer_version("pii-x", "pii", "def solve(text):\n    return []\n", spans, {"accepted": True}, (), {}, None,
                        key="f1")
    store.close()
    done = run("skills", "diff", "pii-x@1", "cola-rules@2", "--store", filled)
    assert done.returncode == 0, done.stderr
    rows = [line.split("│")[1:-1] for line in done.stdout.splitlines() if line.startswith("│ validation")]
    cells = [[c.strip() for c in row] for row in rows]
    assert ["validation", "span F1 (exact)", "0.450", "-", "-"] in cells and ["validation", "F1", "-", "0.800", "-"] in cells
    assert ["validation", "MCC", "-", "0.150", "-"] in cells and all(row[4] == "-" for row in cells)
    assert len({row[1] for row in cells}) == len(cells)  # no metric's name twice (both were "f1")
    assert "a pii skill and cola-rules@2 a cola skill" in " ".join(done.stdout.split())


def test_diff_of_versions_judged_on_other_data_compares_no_scores(filled):
    """Skills audit: two cola versions judged on different data (a cut train file, another --data-dir) were shown
    a change column (validation MCC 0.202 against 0.157 on 857 and 400 sentences) with no word."""
    store = Store(filled)
    metrics = {s: {"accuracy": 0.7, "mcc": 0.2, "f1": 0.8, "balanced_accuracy": 0.55, "n": 100} for s in ("train", "validation")}
    store.offer_version("cola-small", "cola", "def solve(text):\n    return 0\n", metrics, {"accepted": True}, (),
                        {"data_sha256": "ab" * 32}, None)
    store.offer_version("cola-same", "cola", "def solve(text):\n    return 1\n", metrics, {"accepted": True}, (),
                        {"data_sha256": "cd" * 32}, None)
    store.offer_version("cola-same", "cola", "def solve(text):\n    return 2\n",
                        {s: {**m, "mcc": 0.25} for s, m in metrics.items()}, {"accepted": True}, (),
                        {"data_sha256": "cd" * 32}, None)
    store.close()
    other = run("skills", "diff", "cola-small@1", "cola-same@1", "--store", filled)
    assert other.returncode == 0 and "judged on different data of task cola" in " ".join(other.stdout.split())
    assert all(line.split("│")[5].strip() == "-" for line in other.stdout.splitlines() if line.startswith("│ validation"))
    same = run("skills", "diff", "cola-same@1", "cola-same@2", "--store", filled)
    assert "+0.050" in same.stdout and "different data" not in same.stdout


def test_export_runs_without_skillkiln(filled, tmp_path):
    out = tmp_path / "exported" / "skill.py"  # a folder that does not exist yet is made
    first = run("skills", "export", "cola-rules@2", "-o", str(out), "--store", filled)
    assert first.returncode == 0 and "replacing" not in first.stderr
    again = run("skills", "export", "cola-rules@2", "-o", str(out), "--store", filled)  # said, not silent
    assert again.returncode == 0 and "(cola-rules@2), replacing the file that was there" in again.stderr
    # plain python, no venv, no skillkiln on the path
    done = subprocess.run(["python3", "-I", str(out), "He is the the winner.", "All the kids left."],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    for under in (blocked / "skill.py", blocked / "sub" / "skill.py"):  # it said "File exists" (skills audit)
        refused = run("skills", "export", "cola-rules@2", "-o", str(under), "--store", filled)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.strip() == f"error: cannot write {under}: {blocked} is a file, not a folder"
    namespace: dict = {}
    exec(HONEST, namespace)
    expected = [str(namespace["solve"](t)) for t in ("He is the the winner.", "All the kids left.")]
    assert done.stdout.split() == expected


def test_an_export_passes_skills_check_like_the_stored_code(filled, tmp_path):
    """`skills check` takes the stored code back out of an export (its command-line block imports
    sys, which the static gate refuses in a skill), so an export checks exactly as its version did."""
    from skills_store.export import skill_source

    out = tmp_path / "skill.py"
    assert run("skills", "export", "cola-rules@2", "-o", str(out), "--store", filled).returncode == 0
    assert skill_source(out.read_text()) == (HONEST.rstrip("\n") + "\n", True)
    assert skill_source(HONEST) == (HONEST, False)
    done = run("skills", "check", str(out), "--task", "cola", "--sandbox", "local", "--json")
    assert "is a skillkiln export" in done.stderr
    verdict = json.loads(done.stdout)
    assert not [r for r in verdict["reasons"] if r.startswith("static")], verdict["reasons"]
    plain = tmp_path / "plain.py"
    plain.write_text(HONEST)
    again = json.loads(run("skills", "check", str(plain), "--task", "cola", "--sandbox", "local", "--json").stdout)
    assert (verdict["accepted"], verdict["reasons"]) == (again["accepted"], again["reasons"])
    # the same export saved with Windows line ends is the same program to python3, and to skills check (it was
    # refused: "what follows the skill's code is not the block `skills export` writes")
    windows = tmp_path / "windows.py"
    windows.write_bytes(out.read_bytes().replace(b"\n", b"\r\n"))
    crlf = run("skills", "check", str(windows), "--task", "cola", "--sandbox", "local", "--json")
    assert crlf.returncode == done.returncode and json.loads(crlf.stdout)["reasons"] == verdict["reasons"], crlf.stderr
    answers = [subprocess.run(["python3", "-I", str(f), "The cat sat on the mat."], capture_output=True, text=True).stdout
               for f in (out, windows)]
    assert answers[0] == answers[1] and answers[0].strip() in ("0", "1")


def test_search_finds_by_description_and_code(filled):
    hits = json.loads(run("skills", "search", "doubled word", "--store", filled, "--json").stdout)
    assert hits and hits[0]["name"] == "cola-rules"
    assert json.loads(run("skills", "search", "zzzqqq", "--store", filled, "--json").stdout) == []


def test_a_mistyped_task_filter_is_an_error_not_an_empty_table(filled):
    for command in (("list",), ("search", "doubled word")):
        typo = run("skills", *command, "--task", "cloa", "--store", filled)
        assert typo.returncode == 2 and "no task 'cloa'" in typo.stderr and "skills for cola" in typo.stderr
    none_yet = run("skills", "list", "--task", "sst2", "--store", filled)  # a real task with no skills yet
    assert none_yet.returncode == 0 and "no sst2 skills in" in none_yet.stderr and "evolve --task sst2" in none_yet.stderr
    assert len(json.loads(run("skills", "list", "--task", "cola", "--store", filled, "--json").stdout)) == 1


def test_rejected_candidate_shows_its_reason(filled):
    done = run("skills", "candidate", "run-1-000-0", "--store", filled)
    assert done.returncode == 0
    assert "constant_output:train" in done.stdout and "100.0% of outputs" in done.stdout


def test_runs_and_run_show(filled):
    runs = json.loads(run("skills", "runs", "--store", filled, "--json").stdout)
    assert runs[0]["run_id"] == "run-1" and runs[0]["status"] == "finished"
    shown = json.loads(run("skills", "runs", "show", "run-1", "--store", filled, "--json").stdout)
    assert shown["rejections"] == {"constant_output:train": 1}
    missing = run("skills", "runs", "show", "nope", "--store", filled)
    assert missing.returncode == 2 and "no run 'nope'" in missing.stderr


def test_names_and_tasks_print_as_written_not_as_markup(filled, tmp_path):
    """A task `file:[bold]t.csv` printed as a bold `file:t.csv`, and a legacy store's name `[red]x` lost its
    brackets: the consoles parsed what they print as rich markup (skills audit)."""
    store = tmp_path / "markup.sqlite"
    shutil.copy(filled, store)
    Store(store).start_run("run-[bold]2", "file:[bold]t.csv", {}, "docker")
    db = sqlite3.connect(store)  # a name the store would refuse now, as an older store may hold it
    db.execute("UPDATE skill_versions SET name = '[red]legacy' WHERE name = 'cola-rules'")
    db.execute("UPDATE skills SET name = '[red]legacy' WHERE name = 'cola-rules'")
    db.commit()
    db.close()
    runs = " ".join(run("skills", "runs", "--store", str(store)).stdout.split())
    assert "run-[bold]2" in runs and "file:[bold]t.csv" in runs
    assert "run run-[bold]2 · task file:[bold]t.csv" in run("skills", "runs", "show", "run-[bold]2", "--store", str(store)).stdout
    assert "[red]legacy@" in run("skills", "list", "--store", str(store)).stdout


def test_verify_reports_tampering_without_crashing(filled):
    assert run("skills", "verify", "--store", filled).returncode == 0
    db = sqlite3.connect(filled)
    db.execute("UPDATE skill_versions SET code = code || '# edited' WHERE version = 1")
    db.commit()
    db.close()
    done = run("skills", "verify", "--store", filled, "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert any("cola-rules@1" in p and "sha256" in p for p in report["problems"])
    shown = run("skills", "show", "cola-rules@1", "--store", filled)  # browsing: shown, with a warning
    assert shown.returncode == 0 and "warning: cola-rules@1's code does not match its stored sha256" in shown.stderr
    # run and export refuse it, as --reuse and a library do (skills audit: they warned, and the export's docstring
    # still gave the stored sha256, not its code's)
    for command in (("export", "cola-rules@1"), ("run", "cola-rules@1", "a text", "--sandbox", "local")):
        used = run("skills", *command, "--store", filled)
        assert used.returncode == 2 and "cola-rules@1's code does not match its stored sha256" in used.stderr, used.stderr
        assert used.stdout == ""
    assert "warning" not in run("skills", "show", "cola-rules@2", "--store", filled).stderr


def test_skills_run_through_the_sandbox(filled):
    from conftest import require_docker

    require_docker()
    done = run("skills", "run", "cola-rules", "He is the the winner.", "--sandbox", "docker", "--store", filled)
    assert done.returncode == 0, done.stderr
    namespace: dict = {}
    exec(HONEST, namespace)
    assert done.stdout.strip() == str(namespace["solve"]("He is the the winner."))
    assert "retired" not in done.stderr
    binary = Path(filled).with_name("texts.bin")
    binary.write_bytes(bytes(range(256)))
    unreadable = run("skills", "run", "cola-rules", "--file", str(binary), "--store", filled)
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr and "Traceback" not in unreadable.stderr
    assert run("skills", "retire", "cola-rules", "--store", filled).returncode == 0
    retired = run("skills", "run", "cola-rules", "He is the the winner.", "--sandbox", "docker", "--store", filled)
    assert retired.returncode == 0 and retired.stdout == done.stdout  # it still runs: the user named it
    assert "warning: cola-rules is retired" in retired.stderr


def test_old_schema_is_migrated(tmp_path):
    path = tmp_path / "v1.sqlite"
    from skills_store.store import MIGRATIONS

    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[1] + "PRAGMA user_version=1;")
    db.execute("INSERT INTO skills (name, task, created_at) VALUES ('old', 'cola', 'then')")
    db.execute("INSERT INTO skill_versions (name, version, task, code, code_sha256, metrics, verdict, parents,"
               " provenance, candidate_id, created_at) VALUES ('old', 1, 'cola', 'x', ?, '{}', '{}', '[]', '{}',"
               " NULL, 'then')", (__import__("hashlib").sha256(b"x").hexdigest(),))
    db.commit()
    db.close()
    store = Store(path)
    assert store.schema_version == 7 and store.iterations("none") == [] and store.calls("none") == []
    assert "train_expected" in {r[1] for r in store._db.execute("PRAGMA table_info(candidates)")}
    assert "owner" in {r[1] for r in store._db.execute("PRAGMA table_info(runs)")}
    assert store.get("old").code == "x" and store.get("old").description == ""
    assert store.verify() == []


def test_tables_never_cut_names_or_run_ids(tmp_path):
    """What a user copies into the next command (a skill name, a run id) stays whole in an
    80-column terminal, and with no terminal at all (COLUMNS unset) every cell stays whole."""
    path = tmp_path / "s.sqlite"
    store = Store(path)
    run_id, name = "20261206-171322-e6b49c", "cola-grammar-rules-offline"
    store.start_run(run_id, "cola", {"iters": 1}, "docker")
    metrics = {s: {"accuracy": 0.7, "mcc": 0.15, "f1": 0.8, "balanced_accuracy": 0.55, "n": 100,
                   "majority_accuracy": 0.7, "p_value": 0.001} for s in ("train", "validation", "test")}
    store.offer_version(name, "cola", HONEST, metrics, {"accepted": True, "reasons": [], "details": {}}, (),
                        {"run_id": run_id, "proposer": "offline"}, None, description="rules")
    store.finish_run(run_id, "finished", {"candidates": 1, "accepted_count": 1, "best": {"name": name, "version": 1}})
    store.close()
    for command, whole in ((("skills", "runs"), (run_id, f"{name}@1")), (("skills", "list"), (name, run_id)),
                           (("skills", "history", name), (run_id,))):
        narrow = run(*command, "--store", str(path), env={"COLUMNS": "80"})
        assert narrow.returncode == 0, narrow.stderr
        assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
        for text in whole:
            assert text in narrow.stdout, (command, text, narrow.stdout)
        # and no score is cut (skills audit: at 80 columns list showed '0.…' for each): columns give way instead,
        # the least needed first, and a caption names them
        assert "…" not in narrow.stdout and (command[1] == "runs" or "0.150" in narrow.stdout), (command, narrow.stdout)
    listed = run("skills", "list", "--store", str(path), env={"COLUMNS": "80"}).stdout
    assert "not shown at 80 columns: created, proposer" in " ".join(listed.split())
    tiny = run("skills", "list", "--store", str(path), env={"COLUMNS": "50"}).stdout
    assert name in tiny and "0.150" in tiny and max(len(line) for line in tiny.splitlines()) <= 50, tiny
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    wide = subprocess.run([str(BIN / "skills"), "runs", "--store", str(path)],
                          capture_output=True, text=True, env=env, timeout=120, stdin=subprocess.DEVNULL)
    assert wide.returncode == 0, wide.stderr
    assert re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d +│", wide.stdout), wide.stdout  # started, on one line
    assert "finished" in wide.stdout and "candidates" in wide.stdout and "…" not in wide.stdout


def test_code_goes_to_a_pipe_verbatim(filled):
    """`skills show`, `candidate` and `diff` into a file or a pipe: every code line whole, none wrapped or cut."""
    long_line = "    WORDS = " + repr([f"word{i}" for i in range(40)]) + "\n"
    code = HONEST.replace("def solve(", long_line.strip() + "\n\n\ndef solve(", 1)
    store = Store(filled)
    metrics = {s: {"accuracy": 0.7, "mcc": 0.2, "f1": 0.8, "balanced_accuracy": 0.55, "n": 100,
                   "majority_accuracy": 0.7, "p_value": 0.001} for s in ("train", "validation", "test")}
    store.offer_version("cola-rules", "cola", code, metrics, {"accepted": True, "reasons": [], "details": {}}, (),
                        {"run_id": "run-1", "proposer": "offline"}, None)
    store.close()
    shown = run("skills", "show", "cola-rules@3", "--store", filled, env={"COLUMNS": "80"})
    assert shown.returncode == 0 and code in shown.stdout
    diff = run("skills", "diff", "cola-rules@2", "cola-rules@3", "--store", filled, env={"COLUMNS": "80"})
    assert diff.returncode == 0 and "+" + long_line.strip() in diff.stdout
    candidate = run("skills", "candidate", "run-1-000-0", "--store", filled, env={"COLUMNS": "20"})
    assert "def solve(text):\n    return 1\n" in candidate.stdout


def test_skills_run_of_a_skill_that_fails_exits_non_zero(tmp_path):
    """A crash on the text asked for was printed on stdout with exit 0, as if it were the answer."""
    path = tmp_path / "s.sqlite"
    store = Store(path)
    store.offer_version("fragile", "cola", "def solve(text):\n    return 1 if len(text) > 3 else 1 // 0\n",
                        {"validation": {"mcc": 0.1}}, {}, (), {}, None)
    store.close()
    one = run("skills", "run", "fragile", "ab", "--store", str(path), "--sandbox", "local")
    assert one.returncode == 1 and one.stdout == ""
    assert "error: fragile@1 failed on 1 of 1 text: exception: ZeroDivisionError" in one.stderr
    texts = tmp_path / "t.txt"
    texts.write_text("a long enough text\nab\n")
    many = run("skills", "run", "fragile", "--file", str(texts), "--store", str(path), "--sandbox", "local")
    assert many.returncode == 1 and many.stdout.splitlines()[0] == "1"
    assert many.stdout.splitlines()[1].startswith("error: exception: ZeroDivisionError")  # one line per text
    assert "failed on 1 of 2 texts" in many.stderr
    as_json = run("skills", "run", "fragile", "--file", str(texts), "--store", str(path), "--sandbox", "local", "--json")
    assert as_json.returncode == 1
    rows = json.loads(as_json.stdout)  # one JSON document: the rows, each with its error
    assert rows[0]["prediction"] == 1 and rows[1]["error"].startswith("exception: ZeroDivisionError")
    ok = run("skills", "run", "fragile", "a long text", "--store", str(path), "--sandbox", "local")
    assert ok.returncode == 0 and ok.stdout.strip() == "1"
    skill = tmp_path / "constant.py"
    skill.write_text("def solve(text):\n    return 1\n")
    checked = run("skills", "check", str(skill), "--task", "cola", "--sandbox", "local")
    assert checked.returncode == 1 and "sandbox: local (weaker isolation)" in checked.stdout  # which sandbox judged it


def test_files_the_user_names_are_read_only_if_regular_and_bounded(tmp_path):
    """/dev/zero was read until memory ran out ('unexpected MemoryError'); a FIFO hung the command."""
    import os

    fifo = tmp_path / "skill.py"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):
        done = run("skills", "check", path, "--task", "cola", timeout=60)
        assert done.returncode == 2 and "it is not a regular file" in done.stderr, done.stderr
        done = run("skills", "run", "x", "--file", path, "--store", str(tmp_path / "s.sqlite"), timeout=60)
        assert done.returncode == 2 and "it is not a regular file" in done.stderr, done.stderr
    big = tmp_path / "big.py"
    big.write_bytes(b"#" * ((4 << 20) + 1))
    done = run("skills", "check", str(big), "--task", "cola", timeout=60)
    assert done.returncode == 2 and "a skill file (an export holds its libraries too) is at most" in done.stderr


def test_a_damaged_record_is_one_line_naming_it_not_a_crash(filled):
    """Skills audit: one damaged JSON field in a skill version, or in a candidate's verdict or reasons, made
    list, show, history, candidate, runs show and report end in exit 3 ('a bug of skillkiln's own')."""
    db = sqlite3.connect(filled)
    db.execute("UPDATE skill_versions SET metrics = '{oops' WHERE name = 'cola-rules' AND version = 2")
    db.commit()
    for args in (["list"], ["search", "rule"], ["history", "cola-rules"], ["show", "cola-rules"]):
        done = run("skills", *args, "--store", filled)
        assert done.returncode == 2 and "Traceback" not in done.stderr, (args, done.stderr)
        assert "skill version cola-rules@2 in the store" in done.stderr and "is damaged" in done.stderr, done.stderr
        assert "skills verify" in done.stderr
    assert run("skills", "show", "cola-rules@1", "--store", filled).returncode == 0  # the rest is still there
    for column, value in (("verdict", "{broken"), ("verdict", "[1, 2]"), ("reasons", "nope")):
        db.execute("UPDATE skill_versions SET metrics = '{}'")
        db.execute(f"UPDATE candidates SET {column} = ? WHERE id = 'run-1-000-0'", (value,))
        db.commit()
        for args in (["candidate", "run-1-000-0"], ["runs", "show", "run-1"], ["report", "run-1", "-o",
                                                                              str(Path(filled).parent / "r.html")]):
            done = run("skills", *args, "--store", filled)
            assert done.returncode == 2 and "candidate run-1-000-0 in the store" in done.stderr, (column, args, done.stderr)
        db.execute("UPDATE candidates SET verdict = '{}', reasons = '[]' WHERE id = 'run-1-000-0'")
        db.commit()


def test_candidate_json_holds_its_train_outputs_as_a_list(filled):
    """--json printed the stored compressed train outputs as a Python bytes repr ("b'x\\x9c...")."""
    import zlib

    db = sqlite3.connect(filled)
    db.execute("UPDATE candidates SET train_predictions = ? WHERE id = 'run-1-000-0'", (zlib.compress(b"[1, 0, 1]"),))
    db.commit()
    shown = json.loads(run("skills", "candidate", "run-1-000-0", "--store", filled, "--json").stdout)
    assert shown["train_predictions"] == [1, 0, 1] and shown["reasons"] == ["constant_output:train"]


def test_output_whose_reader_went_away_exits_141_not_1(filled):
    """Skills audit: `skills verify | head -1` on a healthy store exited 1, verify's 'found problems' (and
    `skills check ... | head` 1, 'rejected'): click's way out of EPIPE. Now 141, as a Unix tool killed by SIGPIPE."""
    import time

    for args in (["verify"], ["list"], ["show", "cola-rules"]):
        proc = subprocess.Popen([str(BIN / "skills"), *args, "--store", filled], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        proc.stdout.close()  # the reader is gone before the command writes a byte
        err = proc.stderr.read().decode()
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.returncode == 141 and "Traceback" not in err and "Exception ignored" not in err, (args, proc.returncode, err)


def test_version_numbers_are_ascii_digits_of_a_sane_size(filled):
    """Skills audit: NAME@² ended in exit 3 (ValueError from int()), NAME@ followed by 23 digits in exit 3
    (OverflowError from SQLite), and NAME@١ (an Arabic-Indic one) was quietly read as version 1."""
    for ref in ("cola-rules@²", "cola-rules@" + "9" * 23, "cola-rules@١"):
        for args in (["show", ref], ["export", ref], ["pin", ref]):
            done = run("skills", *args, "--store", filled)
            assert done.returncode == 2 and "bad skill version" in done.stderr and "Traceback" not in done.stderr, \
                (args, done.returncode, done.stderr)
    assert run("skills", "show", "cola-rules@999999999", "--store", filled).returncode == 2  # no such version: exit 2


def test_a_columns_of_zero_still_prints(filled):
    """Skills audit: with COLUMNS=0 in the environment list, show and runs wrote 0 bytes and exited 0, and an error
    was not printed at all (rich drew at width 0)."""
    env = {**os.environ, "COLUMNS": "0"}
    listed = subprocess.run([str(BIN / "skills"), "list", "--store", filled], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and "cola-rules" in listed.stdout
    shown = subprocess.run([str(BIN / "skills"), "show", "cola-rules", "--store", filled], capture_output=True,
                           text=True, env=env)
    assert "def solve" in shown.stdout
    missing = subprocess.run([str(BIN / "skills"), "show", "nope", "--store", filled], capture_output=True, text=True,
                             env=env)
    assert missing.returncode == 2 and "no skill 'nope'" in missing.stderr


def test_run_file_gives_one_answer_per_line_as_the_export_does(filled, tmp_path):
    """Skills audit: `skills run --file` cut lines at \\r, \\f, \\v, \\x85, U+2028 too (str.splitlines): a 3-line file
    gave 5 answers, out of line with its input, where the exported skill reading stdin gave 3. Both now cut at
    \\n alone, and both drop a CRLF file's \\r (the export passed it on to solve)."""
    texts = tmp_path / "texts.txt"
    texts.write_bytes("a form\x0cfeed here\r\nthe the end\rline\u2028separated\nHe is the the winner.\r\n".encode())
    done = run("skills", "run", "cola-rules", "--file", str(texts), "--sandbox", "local", "--store", filled)
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 3, done.stdout
    export = tmp_path / "skill.py"
    assert run("skills", "export", "cola-rules", "-o", str(export), "--store", filled).returncode == 0
    probe = export.read_text().replace("print(_answer", "print(repr(_text), _answer")
    (tmp_path / "probe.py").write_text(probe)
    seen = subprocess.run(["python3", str(tmp_path / "probe.py")], input=texts.read_bytes(), capture_output=True)
    assert seen.stdout.decode().splitlines()[2].startswith("'He is the the winner.' ")  # no \\r passed on
    piped = subprocess.run(["python3", str(export)], input=texts.read_bytes(), capture_output=True)
    assert [line.split("\t")[-1] for line in done.stdout.splitlines()] == piped.stdout.decode().splitlines()
    # exports written before the guards, as they were written (tests/exports/legacy_cola_rules.py) and before
    # that (their lines kept the \\r), are still what `skills export` wrote: check takes them, and says they run
    # their code as plain Python
    from skills_store.export_legacy import _LEGACY_READ

    written = (Path(__file__).parent / "exports" / "legacy_cola_rules.py").read_text()
    old = tmp_path / "old.py"
    for text in (written, written.replace(*_LEGACY_READ)):
        old.write_text(text)
        checked = run("skills", "check", str(old), "--task", "cola", "--sandbox", "local", "--store", filled)
        assert checked.returncode == 0, checked.stderr
        assert "was exported before exports ran their skill under the sandbox's guards" in checked.stderr
    assert written.replace(*_LEGACY_READ) != written


def test_a_reader_leaves_an_empty_file_and_a_folder_as_they_are(tmp_path):
    """Skills audit: `skills list --store notes.txt` (0 bytes) exited 0 and left an 80 kB SQLite store in the file,
    and $SKILLKILN_STORE naming a folder was called 'read-only (unable to open database file)'."""
    notes = tmp_path / "notes.txt"
    notes.write_text("")
    done = run("skills", "list", "--store", str(notes))
    assert done.returncode == 2 and "is an empty file, not a store" in done.stderr and notes.stat().st_size == 0
    folder = subprocess.run([str(BIN / "skills"), "list"], capture_output=True, text=True,
                            env={**os.environ, "SKILLKILN_STORE": str(tmp_path)})
    assert folder.returncode == 2 and f"the store {tmp_path} is a directory" in folder.stderr, folder.stderr


def test_small_things_the_skills_audit_found(filled, tmp_path):
    """history, unpin and retire given NAME@V said "no skill 'cola-rules@2'"; export of a retired skill gave no
    warning where run does; an empty store's `skills runs` was an empty table; an offline run's `runs show`
    printed 'ledger: $0.0000 · 0 tokens in 0 calls ()'."""
    for args in (["history", "cola-rules@2"], ["unpin", "cola-rules@2"], ["retire", "cola-rules@2"]):
        done = run("skills", *args, "--store", filled)
        assert done.returncode == 2 and "takes a skill NAME, not NAME@VERSION: write 'cola-rules'" in done.stderr
    assert run("skills", "retire", "cola-rules", "--store", filled).returncode == 0
    exported = run("skills", "export", "cola-rules", "--store", filled)
    assert exported.returncode == 0 and "warning: cola-rules is retired" in exported.stderr
    shown = run("skills", "runs", "show", "run-1", "--store", filled)
    assert shown.returncode == 0 and "ledger:" not in shown.stdout
    empty = tmp_path / "empty.sqlite"
    Store(empty).close()
    none = run("skills", "runs", "--store", str(empty))
    assert none.returncode == 0 and "no run in the store" in none.stderr and "┏" not in none.stdout


def test_ctrl_c_in_a_skills_command_speaks_of_no_run(tmp_path):
    """Skills audit: Ctrl-C during `skills check` said "`skills runs` lists any run it had started; `evolve --resume
    RUN` continues one", words about evolve that do not apply."""
    import signal
    import time

    slow = tmp_path / "slow.py"
    slow.write_text("def solve(text):\n    n = 0\n    for i in range(200000):\n        n += i\n    return len(text) % 2\n")
    proc = subprocess.Popen([str(BIN / "skills"), "check", str(slow), "--task", "cola", "--sandbox", "local"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(4)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "interrupted", err


def test_pin_twice_and_an_ascii_terminal(filled):
    """Skills audit: pinning the pinned version said 'pinned' again and stored a second event; with
    PYTHONIOENCODING=ascii `skills list` ended in exit 3 (UnicodeEncodeError)."""
    assert run("skills", "pin", "cola-rules@1", "--store", filled).returncode == 0
    again = run("skills", "pin", "cola-rules@1", "--store", filled)
    assert again.returncode == 0 and "was pinned already: nothing changed" in again.stderr
    events = json.loads(run("skills", "history", "cola-rules", "--store", filled, "--json").stdout)["events"]
    assert sum(e["action"] == "pinned" for e in events) == 1, events
    for args in (["list"], ["show", "cola-rules"], ["runs"]):
        done = subprocess.run([str(BIN / "skills"), *args, "--store", filled], capture_output=True,
                              env={**os.environ, "PYTHONIOENCODING": "ascii"})
        assert done.returncode == 0 and b"Traceback" not in done.stderr, (args, done.stderr)


def test_verify_flags_what_browsing_refuses(filled):
    """verify read a skill version's JSON columns with a check of its own that only asked for valid JSON, so a
    metrics column holding a JSON list passed verify while list and show refused the version."""
    db = sqlite3.connect(filled)
    db.execute("UPDATE skill_versions SET metrics = '[1, 2]' WHERE name = 'cola-rules' AND version = 2")
    db.commit()
    assert run("skills", "show", "cola-rules@2", "--store", filled).returncode == 2
    done = run("skills", "verify", "--store", filled, "--json")
    assert done.returncode == 1
    assert any("skill version cola-rules@2" in p and "metrics is a JSON list" in p
               for p in json.loads(done.stdout)["problems"]), done.stdout
