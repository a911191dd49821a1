"""The commands as a user runs them: real processes, real Docker, real SQLite."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SKILLS, require_docker
from skills_store.store import Store

BIN = Path(sys.executable).parent


def run(*args: str, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_unknown_task_is_one_line(tmp_path):
    done = run("evolve", "--task", "colaa", "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2
    assert "unknown task 'colaa'" in one_line_error(done)
    # refused input leaves no empty store behind (README audit), and --resume never makes one
    for args in (("--task", "colaa"), (), ("--task", "cola", "--data-dir", str(tmp_path / "nodata")),
                 ("--resume", "r1")):
        done = run("evolve", *args, "--store", str(tmp_path / "s.sqlite"))
        assert done.returncode == 2 and one_line_error(done), args
    assert "no store at" in one_line_error(done)
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "afile").write_text("x")  # a data folder that is a file says so (it said 'does not exist')
    done = run("evolve", "--task", "cola", "--store", str(tmp_path / "s.sqlite"), env={"SKILLKILN_DATA_DIR": str(tmp_path / "afile")})
    assert done.returncode == 2 and "afile is a file, not a folder (from --data-dir or SKILLKILN_DATA_DIR)" in one_line_error(done)


def test_with_json_a_failure_is_a_json_object_on_stdout_too(tmp_path):
    done = run("evolve", "--task", "colaa", "--json", "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2 and "unknown task 'colaa'" in one_line_error(done)
    assert json.loads(done.stdout) == {"error": one_line_error(done).removeprefix("error: "), "exit_code": 2}
    Store(tmp_path / "s.sqlite").close()  # an empty store (the refused evolve made none)
    done = run("skills", "show", "nosuch", "--json", "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2 and json.loads(done.stdout)["error"].startswith("no skill 'nosuch'")
    assert run("evolve", "--task", "colaa", "--store", str(tmp_path / "s.sqlite")).stdout == ""  # no --json, no JSON
    # a bad flag value, before or after --json: the object too, without the stderr line's --help hint
    for args in (("--json", "--iters", "abc"), ("--iters", "abc", "--json")):
        done = run("evolve", *args, "--store", str(tmp_path / "s.sqlite"))
        assert done.returncode == 2 and one_line_error(done).endswith("(see `evolve --help`)")
        assert json.loads(done.stdout) == {"error": "Invalid value for '--iters': 'abc' is not a valid integer range.",
                                           "exit_code": 2}


def test_bad_flag_value_is_one_line(tmp_path):
    done = run("evolve", "--task", "cola", "--iters", "0", "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2
    assert "--iters" in done.stderr and "Traceback" not in done.stderr


def test_dead_docker_daemon_when_docker_is_forced(tmp_path):
    done = run("evolve", "--task", "cola", "--iters", "1", "--sandbox", "docker", "--store", str(tmp_path / "s.sqlite"),
               env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert done.returncode == 2
    assert "Docker daemon not reachable" in one_line_error(done)


def test_missing_data_is_one_line(tmp_path):
    done = run("evolve", "--task", "cola", "--data-dir", str(tmp_path), "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2
    assert "SKILLKILN_DATA_DIR" in one_line_error(done)


def test_corrupt_store_is_one_line_and_untouched(tmp_path):
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"garbage" * 1000)
    done = run("skills", "list", "--store", str(path))
    assert done.returncode == 2
    assert "corrupt" in one_line_error(done)
    assert path.read_bytes() == b"garbage" * 1000


def test_skills_check_rejects_the_research_logs_best_skill(tmp_path):
    require_docker()
    skill = tmp_path / "return_true.py"
    skill.write_text("def solve(text):\n    return True\n")
    done = run("skills", "check", str(skill), "--task", "cola", "--sandbox", "docker", "--json")
    assert done.returncode == 1, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["accepted"] is False
    assert "constant_output:train" in verdict["reasons"]
    train = verdict["metrics"]["train"]
    assert train["accuracy"] == pytest.approx(train["majority_accuracy"])  # the log's 68%: exactly the majority
    assert train["mcc"] == 0.0
    skill.write_text("import os\ndef solve(text):\n    return 1\n")
    static = run("skills", "check", str(skill), "--task", "cola", "--sandbox", "docker")
    assert static.returncode == 1 and static.stdout.startswith("stage reached: static")  # no empty metrics table
    assert "import of 'os' is not allowed" in static.stdout


def test_skills_check_accepts_an_honest_skill():
    require_docker()
    done = run("skills", "check", str(SKILLS / "honest_rules.py"), "--task", "cola", "--sandbox", "docker", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["accepted"] is True and verdict["reasons"] == []
    assert set(verdict["metrics"]) == {"train", "validation", "test"}


def shown_run_text(store: str, summary: dict) -> str:
    return run("skills", "runs", "show", summary["run_id"], "--store", store).stdout


def test_evolve_end_to_end_then_browse(tmp_path):
    require_docker()
    store = str(tmp_path / "s.sqlite")
    done = run("evolve", "--task", "cola", "--iters", "5", "--store", store, "--sandbox", "docker", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["sandbox"] == "docker"
    assert summary["accepted_count"] >= 1
    assert summary["candidates"] == 5 * 4
    assert summary["tokens"]["total"] == 0
    best = summary["best"]
    assert best["version"] >= 1
    for split in ("train", "validation", "test"):
        assert {"accuracy", "mcc"} <= set(best["metrics"][split])
    assert best["metrics"]["validation"]["mcc"] > 0.05
    assert summary["accepted_count"] + summary["rejected_count"] + summary["skipped_count"] == summary["candidates"]
    assert sum(summary["rejections"].values()) >= summary["rejected_count"]  # a rejection has one reason or more
    assert sum(summary["skipped"].values()) == summary["skipped_count"]  # a skip has exactly one
    assert not set(summary["skipped"]) & set(summary["rejections"])
    population = summary["population"]  # the search's state is in the record, not only in memory
    assert population["adds"] >= summary["accepted_count"] and population["migrations"] == population["adds"] // 12
    assert sum(population["islands"]) >= 1 and population["members"] >= 1
    shown_run = json.loads(run("skills", "runs", "show", summary["run_id"], "--store", store, "--json").stdout)
    assert shown_run["population"] == population
    # the data folder named by $SKILLKILN_DATA_DIR is recorded (it said None), so a resume needs no variable
    assert shown_run["config"]["data_dir"] == str(Path(os.environ["SKILLKILN_DATA_DIR"]).resolve())
    counts = ("candidates", "accepted_count", "stored_count", "rejected_count", "skipped_count", "rejections", "skipped")
    assert {k: shown_run[k] for k in counts} == {k: summary[k] for k in counts}  # one name for each count
    listed_run = json.loads(run("skills", "runs", "--store", store, "--json").stdout)[0]
    assert (listed_run["candidates"], listed_run["accepted_count"]) == (summary["candidates"], summary["accepted_count"])
    evidence = shown_run["evidence"]  # the elite's failure clusters, from iteration 1 on
    assert [e["iteration"] for e in evidence] == [1, 2, 3, 4]
    assert all(e["k"] == max(1, min(40, round((e["errors"] / 2) ** 0.5))) and e["clusters"] <= e["k"] for e in evidence)
    text = run("skills", "runs", "show", summary["run_id"], "--store", store).stdout
    assert "population: " in text and "migration" in text and "failure clusters: 4 iterations recorded" in text

    listed = json.loads(run("skills", "list", "--store", store, "--json").stdout)
    assert [s["name"] for s in listed] == [best["name"]]
    history = json.loads(run("skills", "history", best["name"], "--store", store, "--json").stdout)
    versions = history["versions"]
    assert summary["stored_count"] == len(versions) == best["version"]  # accepted ones that became versions
    assert f"accepted {summary['accepted_count']} ({summary['stored_count']} stored as" in shown_run_text(store, summary)
    said = run("skills", "candidate", best["candidate_id"], "--store", store).stdout
    assert f"stored as {best['name']}@{best['version']}" in said
    shown = run("skills", "show", f"{best['name']}@{best['version']}", "--store", store)
    assert shown.returncode == 0
    assert "def solve(text)" in shown.stdout and "validation" in shown.stdout

    table = run("evolve", "--task", "cola", "--iters", "1", "--store", store, "--sandbox", "docker")
    assert table.returncode == 0
    assert "majority" in table.stdout and "rejections" in table.stdout


def test_an_empty_name_is_refused_not_replaced_by_the_default(tmp_path):
    done = run("evolve", "--task", "cola", "--iters", "1", "--name", "", "--sandbox", "local",
               "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2 and "--name is empty" in one_line_error(done)


def test_local_backend_is_labelled_weaker(tmp_path):
    done = run("evolve", "--task", "cola", "--iters", "1", "--batch", "2", "--sandbox", "local",
               "--store", str(tmp_path / "s.sqlite"), "--json")
    assert done.returncode == 0, done.stderr
    assert "weaker isolation" in done.stderr
    from sandbox.local_backend import _unshare_flags, isolation

    said = " ".join(done.stderr.split())  # what it isolates on this machine, not 'rlimits only' (README audit)
    assert f"skills run in a local subprocess: {isolation()}" in said and "no filesystem or memory isolation" in said
    assert ("no network" in said) == bool(_unshare_flags())
    summary = json.loads(done.stdout)
    assert summary["sandbox"] == "local"
    assert summary["sandbox_label"] == "local (weaker isolation)"


def test_list_tasks():
    done = run("evolve", "--list-tasks", "--json")
    assert done.returncode == 0
    assert {t["name"] for t in json.loads(done.stdout)} >= {"cola", "sst2"}


def test_evolve_refuses_a_damaged_store_and_leaves_it_as_it_was(tmp_path):
    from test_store import _damaged_store

    path = _damaged_store(tmp_path)
    before = path.read_bytes()
    done = run("evolve", "--task", "cola", "--iters", "1", "--store", str(path), "--sandbox", "local")
    assert done.returncode == 2
    assert "is damaged" in one_line_error(done) and "nothing was written" in done.stderr
    assert path.read_bytes() == before


def test_a_damaged_store_is_one_line_for_readers_and_refused_by_the_skills_that_write(tmp_path):
    """README audit: readers met the damage mid-query as 'unexpected DatabaseError' (exit 3, a bug of ours),
    and pin, unpin and retire wrote to a store skills verify calls malformed."""
    from test_store import _damaged_store

    path = _damaged_store(tmp_path, skill=True)
    data = bytearray(path.read_bytes())
    data[20 * 4096:21 * 4096] = b"\xff" * 4096  # one page of the candidates' table, as the audit damaged it
    path.write_bytes(bytes(data))
    before = path.read_bytes()
    for command in (("skills", "runs"), ("skills", "runs", "show", "r1"), ("skills", "report", "r1", "-o", str(tmp_path / "r.html"))):
        done = run(*command, "--store", str(path))
        assert done.returncode == 2 and "unexpected" not in done.stderr, (command, done.stderr)
        assert "the store is damaged (database disk image is malformed)" in one_line_error(done)
    for command in (("skills", "pin", "cola-x@1"), ("skills", "unpin", "cola-x"), ("skills", "retire", "cola-x")):
        done = run(*command, "--store", str(path))
        assert done.returncode == 2 and "is damaged" in one_line_error(done), (command, done.stderr)
    assert path.read_bytes() == before
    missing = run("skills", "pin", "cola-x@1", "--store", str(tmp_path / "nope.sqlite"))
    assert missing.returncode == 2 and not (tmp_path / "nope.sqlite").exists()


def test_readers_do_not_create_a_store_at_a_mistyped_path(tmp_path):
    missing = tmp_path / "typo" / "stor.sqlite"
    for command in (("skills", "list"), ("skills", "verify"), ("skills", "runs"), ("skills", "show", "x")):
        done = run(*command, "--store", str(missing))
        assert done.returncode == 2, (command, done.stdout)
        assert f"no store at {missing}" in one_line_error(done)
    assert not (tmp_path / "typo").exists()


def test_offline_refuses_labels_other_than_0_and_1_before_a_run_starts(tmp_path):
    data = tmp_path / "moods.csv"
    rows = [f"text {i} {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}" for i in range(300)]
    data.write_text("text,label\n" + "\n".join(rows) + "\n")
    store = tmp_path / "s.sqlite"
    done = run("evolve", "--task", f"file:{data}", "--iters", "1", "--store", str(store), "--sandbox", "local")
    assert done.returncode == 2
    line = one_line_error(done)
    assert "needs labels 0 and 1" in line and "'neg', 'pos'" in line
    assert Store(store).runs() == []  # no failed run left behind


def test_usage_errors_are_one_line_too():
    for args, says in ((("evolve", "--task", "cola", "--iters", "0"), "Invalid value for '--iters'"),
                       (("evolve", "--task", "cola", "--batch", "0"), "Invalid value for '--batch'"),
                       (("skills", "show"), "Missing argument 'REF'"),
                       (("skills", "nosuch"), "No such command 'nosuch'")):
        done = run(*args)
        assert done.returncode == 2, args
        line = one_line_error(done)
        assert says in line and "--help" in line, line


def test_best_of_n_runs_with_the_offline_proposer(tmp_path):
    """README audit: --strategy best-of-n was refused without an LLM, so the benchmark's control row (the offline
    proposer's independent samples) could not be run from the command line."""
    store = tmp_path / "s.sqlite"
    done = run("evolve", "--task", "cola", "--iters", "2", "--strategy", "best-of-n", "--sandbox", "local",
               "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["strategy"] == "best-of-n" and summary["candidates"] == 8
    assert "strategy best-of-n (independent samples: no parents, no feedback)" in " ".join(done.stderr.split())
    rows = Store(store).candidates(summary["run_id"])
    assert len(rows) == 8 and all(json.loads(r["parent_ids"] or "[]") == [] for r in rows)


def test_baseline_of_a_span_task_says_so_before_asking_any_server(tmp_path):
    """README audit: with no server up it said 'Ollama is not reachable', not that the task cannot be a baseline."""
    done = run("skillkiln", "baseline", "--task", "pii", "--proposer", "ollama", "--ollama-host", "http://127.0.0.1:9",
               "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2
    assert "pii is a spans task (spans are not a label per text)" in one_line_error(done)
    done = run("skillkiln", "baseline", "--task", "colaa", "--store", str(tmp_path / "s.sqlite"))
    assert done.returncode == 2 and "unknown task 'colaa'" in one_line_error(done)


def test_the_machine_failing_the_store_is_bad_input_not_a_bug(tmp_path):
    """Fault audit: a full disk, a read-only store, a folder without permission were 'unexpected ...', exit 3."""
    import sqlite3

    from engine.cli import environment_error

    assert environment_error(sqlite3.OperationalError("database or disk is full")).startswith("the store's disk is full")
    assert environment_error(sqlite3.OperationalError("attempt to write a readonly database")).startswith(
        "the store is read-only")
    assert environment_error(sqlite3.OperationalError("no such table: events")).startswith("the store is damaged")
    assert environment_error(PermissionError(13, "Permission denied", "/data/cola")) == "Permission denied: /data/cola"
    for bug in (sqlite3.OperationalError("near \"SELEC\": syntax error"), ValueError("x"), KeyError("n")):
        assert environment_error(bug) is None  # still exit 3, a bug of ours

    small = tmp_path / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:  # a store on a disk that fills in the run's first iteration
        done = run("evolve", "--task", "cola", "--iters", "3", "--sandbox", "local", "--store", str(small / "s.sqlite"))
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        line = done.stderr.strip().splitlines()[-1]  # after the sandbox's warning and the start line
        assert line.startswith("error: the store's disk is full (database or disk is full)") and "unexpected" not in line
        assert "`evolve --resume" in line or "was not stored" in line
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_verify_finds_damaged_records_and_resume_names_them(tmp_path):
    """Fault audit: skills verify said 'ok' for a candidate whose verdict or train outputs were damaged, a broken
    run config and a dropped table, and evolve --resume then failed as 'unexpected JSONDecodeError', exit 3."""
    import shutil
    import sqlite3

    store = tmp_path / "s.sqlite"
    done = run("evolve", "--task", "cola", "--iters", "2", "--sandbox", "local", "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    def change(path, sql: str) -> None:  # committed into the main file (a copy of it alone holds the change)
        db = sqlite3.connect(path)
        db.execute(sql)
        db.commit()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()

    change(store, f"UPDATE runs SET status = 'interrupted' WHERE id = '{run_id}'")
    assert run("skills", "verify", "--store", str(store)).returncode == 0
    damage = {  # a copy of the store per fault: (SQL, what verify says, what resume says)
        "verdict": (f"UPDATE candidates SET verdict = '{{\"accepted\": tr' WHERE id = '{run_id}-001-2'",
                    f"candidate {run_id}-001-2 in the store", f"candidate {run_id}-001-2 in the store"),
        "outputs": (f"UPDATE candidates SET train_predictions = x'789c0102' WHERE id = '{run_id}-000-0'",
                    f"candidate {run_id}-000-0 in the store", f"candidate {run_id}-000-0 in the store"),
        "config": (f"UPDATE runs SET config = '{{broken' WHERE id = '{run_id}'",
                   f"run {run_id}'s config in the store", f"run {run_id}'s config in the store"),
        "summary": (f"UPDATE runs SET summary = '{{cut' WHERE id = '{run_id}'",
                    f"run {run_id}'s summary in the store", f"run {run_id}'s summary in the store"),
        "table": ("DROP TABLE events", "table events is missing", None),
    }
    for fault, (sql, verify_says, resume_says) in damage.items():
        copy = tmp_path / f"{fault}.sqlite"
        shutil.copy(store, copy)
        change(copy, sql)
        checked = run("skills", "verify", "--store", str(copy))
        assert checked.returncode == 1 and verify_says in checked.stdout + checked.stderr, (fault, checked.stdout)
        if resume_says:
            resumed = run("evolve", "--resume", run_id, "--store", str(copy))
            assert resumed.returncode == 2, (fault, resumed.stderr)
            line = resumed.stderr.strip().splitlines()[-1]
            assert resume_says in line and "is damaged" in line and "skills verify" in line, (fault, line)
    listed = run("skills", "runs", "--store", str(tmp_path / "summary.sqlite"))  # one damaged run hides no other
    assert listed.returncode == 0 and "(summary damaged)" in listed.stdout


def test_a_run_begun_in_docker_resumes_only_in_docker(tmp_path):
    """Fault audit: resumed while dockerd was down, a Docker run went on in the local fallback (sandbox auto)
    and was still listed as docker."""
    import sqlite3

    require_docker()
    store = tmp_path / "s.sqlite"
    done = run("evolve", "--task", "cola", "--iters", "1", "--batch", "2", "--store", str(store), "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    db = sqlite3.connect(store)
    assert db.execute("SELECT sandbox FROM runs WHERE id = ?", (run_id,)).fetchone() == ("docker",)
    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run_id,))
    db.commit()
    db.close()
    resumed = run("evolve", "--resume", run_id, "--store", str(store),
                  env={"DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert resumed.returncode == 2 and "weaker" not in resumed.stderr
    assert f"run {run_id} ran in Docker and goes on only there; start dockerd" in one_line_error(resumed)


def test_a_store_on_read_only_media_is_browsed_and_not_written(tmp_path):
    """Fault audit: a store whose folder may not be written was 'unreadable or corrupt' to every command, skills
    list and verify included. Root writes anywhere, so the commands run without the capabilities that let it."""
    import shutil
    import stat

    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    folder = tmp_path / "ro"
    folder.mkdir()
    store = Store(folder / "s.sqlite")
    metrics = {"mcc": 0.1, "accuracy": 0.7, "f1": 0.8, "balanced_accuracy": 0.55, "n": 10, "majority_accuracy": 0.7,
               "p_value": 0.01}
    store.offer_version("cola-x", "cola", "def solve(text):\n    return 1\n", {"validation": metrics},
                        {"accepted": True}, (), {}, None)
    store.close()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        def as_user(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner",
                                   str(BIN / args[0]), *args[1:], "--store", str(folder / "s.sqlite")],
                                  capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"})

        assert "cola-x" in as_user("skills", "list").stdout
        checked = as_user("skills", "verify")
        assert checked.returncode == 0 and "ok (schema 7, read-only)" in checked.stdout, checked.stderr
        for args in (("skills", "pin", "cola-x@1"), ("evolve", "--task", "cola", "--iters", "1")):
            done = as_user(*args)
            assert done.returncode == 2 and "is read-only (its file or folder may not be written" in done.stderr, args
            assert "corrupt" not in done.stderr
    finally:
        folder.chmod(stat.S_IRWXU)


def test_resuming_a_run_marked_running_on_another_host_warns(tmp_path):
    """Fault audit: with its owner on another host (whose processes cannot be checked), --resume went ahead
    without a word."""
    import sqlite3

    store = tmp_path / "s.sqlite"
    done = run("evolve", "--task", "cola", "--iters", "1", "--batch", "2", "--sandbox", "local", "--store", str(store),
               "--json")
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout)["run_id"]
    db = sqlite3.connect(store)
    db.execute("UPDATE runs SET status = 'running', owner = ? WHERE id = ?",
               (json.dumps({"host": "build-box-7", "pid": 4242}), run_id))
    db.commit()
    db.close()
    resumed = run("evolve", "--resume", run_id, "--store", str(store))
    assert resumed.returncode == 0, resumed.stderr
    assert (f"run {run_id} is marked running by a process on host build-box-7, which cannot be checked from here"
            in " ".join(resumed.stderr.split()))


def test_resume_names_its_seeds_and_ignores_only_options_that_differ(tmp_path):
    """Reuse audit: the resume line left out what the run was seeded with, and `--resume RUN --sandbox local` of a
    local run warned that it ignored --sandbox."""
    import sqlite3

    store = tmp_path / "s.sqlite"
    first = run("evolve", "--task", "cola", "--iters", "1", "--batch", "1", "--sandbox", "local", "--store", str(store),
                "--json")
    assert first.returncode == 0, first.stderr
    best = json.loads(first.stdout)["best"]
    ref = f"{best['name']}@{best['version']}"
    seeded = run("evolve", "--task", "cola", "--iters", "2", "--batch", "1", "--sandbox", "local", "--reuse", ref,
                 "--name", "cola-seeded", "--store", str(store), "--json")
    assert seeded.returncode == 0, seeded.stderr
    run_id = json.loads(seeded.stdout)["run_id"]
    db = sqlite3.connect(store)
    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run_id,))
    db.commit()
    db.close()
    resumed = run("evolve", "--resume", run_id, "--task", "cola", "--sandbox", "local", "--iters", "3",
                  "--store", str(store))
    assert resumed.returncode == 0, resumed.stderr
    err = " ".join(resumed.stderr.split())
    assert f"seeded with {ref}" in err
    ignoring = [line for line in resumed.stderr.splitlines() if "ignoring" in line]
    assert len(ignoring) == 1 and ignoring[0].endswith("ignoring --iters"), ignoring


def test_a_refused_baseline_leaves_no_store_and_a_limit_is_kept(tmp_path):
    """Tasks audit: a baseline refused for a missing key still made an 80 kB store, its message offered the
    offline proposer (which baseline refuses), and --limit 4 on three equal labels classified 3 (each share
    rounded down)."""
    from engine.baseline import sample
    from engine.records import Example

    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    done = subprocess.run([str(BIN / "skillkiln"), "baseline", "--task", "cola", "--proposer", "anthropic", "--store",
                           str(tmp_path / "s.sqlite")], capture_output=True, text=True, env=env)
    assert done.returncode == 2 and "ANTHROPIC_API_KEY is not set" in done.stderr, done.stderr
    assert "or offline)" not in done.stderr and not (tmp_path / "s.sqlite").exists()
    three = [Example(str(i), i % 3) for i in range(30)]
    assert [len(sample(three, k, 0)) for k in (1, 2, 3, 4, 5, 29)] == [1, 2, 3, 4, 5, 29]
    assert sorted(e.label for e in sample(three, 4, 0)) in ([0, 0, 1, 2], [0, 1, 1, 2], [0, 1, 2, 2])
    rare = [Example(str(i), int(i < 3)) for i in range(300)]
    assert sum(e.label for e in sample(rare, 10, 0)) == 1  # every label once when there is room


def test_evolve_says_what_it_loaded(tmp_path):
    """Tasks audit: evolve never said what a table loaded as (split sizes, labels), so a table read otherwise than
    meant (numbers taken for texts, 'no' and 'no ' two labels) went unseen."""
    data = tmp_path / "t.csv"
    data.write_text("text,label\n" + "".join(f"row {i} {'a' if i % 3 else 'b'},{int(i % 3 > 0)}\n" for i in range(300)))
    done = run("evolve", "--task", f"file:{data}", "--iters", "1", "--batch", "1", "--sandbox", "local",
               "--store", str(tmp_path / "s.sqlite"))
    said = " ".join(done.stderr.split())
    assert "(240 train, 30 validation, 30 test; labels 0 33%, 1 67%)" in said, done.stderr


def test_a_bare_group_prints_its_help():
    """Skills audit: a bare `skills` printed its whole help as an error ('error: Usage: ...'), exit 2."""
    for command in ("skills", "skillkiln"):
        done = subprocess.run([str(BIN / command)], capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.startswith(f"Usage: {command} ") and done.stderr == "", done.stderr
