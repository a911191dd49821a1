"""A `file:` task is one task however its path is spelled, and a run resumes only on the data it began on
(real processes, real SQLite, the local sandbox for speed)."""
from __future__ import annotations

import json
import sqlite3
import subprocess

import pytest

from conftest import require_docker
from test_cli import BIN, one_line_error


def words_file(path, flip: bool = False) -> None:
    """300 labelled texts an offline rule can learn: 'good' words mean 1 (0 when flipped)."""
    rows = []
    for i in range(300):
        label = i % 2
        text = f"{'a good fine' if label else 'a bad dull'} text number {i}"
        rows.append(json.dumps({"text": text, "label": 1 - label if flip else label}))
    path.write_text("\n".join(rows) + "\n")


def evolve(cwd, *args: str) -> subprocess.CompletedProcess:
    sandbox = () if "--resume" in args else ("--sandbox", "local")  # a resumed run keeps its own
    return subprocess.run([str(BIN / "evolve"), *args, *sandbox, "--json"], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_a_relative_file_task_is_stored_by_its_absolute_path_and_resumes_only_on_its_data(tmp_path):
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir(), elsewhere.mkdir()
    words_file(here / "words.jsonl")
    store = str(tmp_path / "s.sqlite")
    first = evolve(here, "--task", "file:words.jsonl", "--iters", "1", "--store", store, "--name", "words")
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    assert summary["task"] == f"file:{(here / 'words.jsonl').resolve()}" and summary["accepted_count"] >= 1
    # the same file spelled another way, from another folder: the same task, so its skill can seed a run
    again = evolve(elsewhere, "--task", "file:../here/./words.jsonl", "--iters", "1", "--store", store,
                   "--reuse", "words", "--name", "words-2")
    assert again.returncode == 0, again.stderr

    # a run cut short resumes from any folder on the same data, and refuses data that changed
    db = sqlite3.connect(store)
    run_id = summary["run_id"]
    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run_id,))
    db.commit()
    words_file(elsewhere / "words.jsonl", flip=True)  # a file of that name where the resume runs: not read
    resumed = evolve(elsewhere, "--resume", run_id, "--store", store)
    assert resumed.returncode == 0, resumed.stderr
    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run_id,))
    db.commit()
    words_file(here / "words.jsonl", flip=True)  # the task's own file, changed
    changed = evolve(elsewhere, "--resume", run_id, "--store", store)
    assert changed.returncode == 2 and "started on other data" in one_line_error(changed)


def test_a_name_held_by_another_task_or_retired_is_settled_before_the_run(tmp_path):
    from engine.config import default_skill_name
    from skills_store.store import Store

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    words_file(tmp_path / "a" / "data.jsonl")
    words_file(tmp_path / "b" / "data.jsonl", flip=True)
    store = str(tmp_path / "s.sqlite")
    first = evolve(tmp_path, "--task", "file:a/data.jsonl", "--iters", "1", "--store", store)
    assert first.returncode == 0 and json.loads(first.stdout)["best"]["name"] == "file-data-offline", first.stderr
    # another file of the same name: its default name would be the first one's, so it gets a distinct one
    second = evolve(tmp_path, "--task", "file:b/data.jsonl", "--iters", "1", "--store", store)
    assert second.returncode == 0, second.stderr
    task_b = f"file:{(tmp_path / 'b' / 'data.jsonl').resolve()}"
    assert json.loads(second.stdout)["best"]["name"] == default_skill_name(task_b, "offline", distinct=True)
    runs = len(Store(store).runs())
    # a name chosen by hand that is another task's skill: refused at once, no run started
    taken = evolve(tmp_path, "--task", "file:b/data.jsonl", "--iters", "1", "--store", store, "--name",
                   "file-data-offline")
    assert taken.returncode == 2 and "that skill is for task" in one_line_error(taken)
    # a retired name: refused too (its new versions would be hidden)
    subprocess.run([str(BIN / "skills"), "retire", "file-data-offline", "--store", store], check=True,
                   capture_output=True)
    retired = evolve(tmp_path, "--task", "file:a/data.jsonl", "--iters", "1", "--store", store)
    assert retired.returncode == 2 and "is retired" in one_line_error(retired)
    assert len(Store(store).runs()) == runs


WORD_LABELS = ("def solve(text):\n"
               "    return 'pos' if 'good' in text.split() else 'neg'\n")


@pytest.mark.parametrize("sandbox", ["docker", "local"])
def test_a_skill_may_answer_a_task_whose_labels_are_words(tmp_path, sandbox):
    """Labels 'neg'/'pos' (or '0'/'1' as JSON strings) are answered as strings: the sandbox passed only
    ints, so no skill for such a file could ever be accepted."""
    if sandbox == "docker":
        require_docker()
    rows = [json.dumps({"text": f"{'a good fine' if i % 2 else 'a bad dull'} text number {i}",
                        "label": "pos" if i % 2 else "neg"}) for i in range(300)]
    data = tmp_path / "words.jsonl"
    data.write_text("\n".join(rows) + "\n")
    skill = tmp_path / "skill.py"
    skill.write_text(WORD_LABELS)
    done = subprocess.run([str(BIN / "skills"), "check", str(skill), "--task", f"file:{data}", "--sandbox", sandbox,
                           "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["accepted"] and verdict["metrics"]["validation"]["accuracy"] == 1.0
    # a word that is not a label, or a str too long to be one, is not a label
    skill.write_text("def solve(text):\n    return 'positive' if 'good' in text.split() else 'x' * 5000\n")
    done = subprocess.run([str(BIN / "skills"), "check", str(skill), "--task", f"file:{data}", "--sandbox", sandbox,
                           "--json"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    assert "bad_output:train" in json.loads(done.stdout)["reasons"]


def test_a_run_on_named_columns_resumes_on_them_without_the_flags(tmp_path):
    """The resume hint says `evolve --resume RUN`; a run on --text-col review --label-col sentiment failed that
    way ('has no column text') until the flags were typed again."""
    rows = [json.dumps({"review": f"{'a good fine' if i % 2 else 'a bad dull'} text number {i}", "sentiment": i % 2})
            for i in range(300)]
    (tmp_path / "reviews.jsonl").write_text("\n".join(rows) + "\n")
    store = str(tmp_path / "s.sqlite")
    first = evolve(tmp_path, "--task", "file:reviews.jsonl", "--text-col", "review", "--label-col", "sentiment",
                   "--iters", "1", "--store", store)
    assert first.returncode == 0, first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    config = json.loads(subprocess.run([str(BIN / "skills"), "runs", "show", run_id, "--store", store, "--json"],
                                       capture_output=True, text=True).stdout)["config"]
    assert (config["text_col"], config["label_col"]) == ("review", "sentiment")  # the run says which columns it used
    db = sqlite3.connect(store)
    db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", (run_id,))
    db.commit()
    resumed = evolve(tmp_path, "--resume", run_id, "--store", store)
    assert resumed.returncode == 0, resumed.stderr


def test_a_skill_judged_on_other_data_is_not_replaced_by_a_version_judged_on_this(tmp_path):
    """Fault audit: a train file cut short made a worse skill the current version of the name, by validation
    scores on two datasets. The default name moves aside, saying why; a --name is refused."""
    words_file(tmp_path / "words.jsonl")
    store = str(tmp_path / "s.sqlite")
    first = evolve(tmp_path, "--task", "file:words.jsonl", "--iters", "1", "--store", store)
    assert first.returncode == 0, first.stderr
    name = json.loads(first.stdout)["best"]["name"]
    words_file(tmp_path / "words.jsonl", flip=True)  # the same task, other labels
    again = evolve(tmp_path, "--task", "file:words.jsonl", "--iters", "1", "--store", store)
    assert again.returncode == 0, again.stderr
    best = json.loads(again.stdout)["best"]
    assert (best["name"], best["version"]) == (f"{name}-2", 1)
    assert (f"the run's skills are stored as {name}-2: {name}@1 was judged on other data than this run's"
            in " ".join(again.stderr.split()))
    refused = evolve(tmp_path, "--task", "file:words.jsonl", "--iters", "1", "--store", store, "--name", name)
    assert refused.returncode == 2 and "was judged on other data" in one_line_error(refused)
    versions = sqlite3.connect(store).execute("SELECT name, version FROM skill_versions ORDER BY name").fetchall()
    assert versions == [(name, 1), (f"{name}-2", 1)]


def test_cola_files_shorter_than_the_release_are_named(tmp_path):
    """Fault audit: a train file cut to 47% ran without a word (exit 0, scores on half the data)."""
    from tasks import resolve_data_dir
    from tasks.cola import FILES, size_note

    assert size_note(8551, 1043) == ()
    source = resolve_data_dir(None) / "cola"
    (tmp_path / "cola").mkdir()
    for name in FILES:  # a copy in the test's own folder, the train file cut at a line end
        text = (source / name).read_text()
        (tmp_path / "cola" / name).write_text(text[:text.index("\n", 200_000) + 1] if name == FILES[0] else text)
    done = subprocess.run([str(BIN / "evolve"), "--task", "cola", "--iters", "1", "--batch", "1", "--sandbox", "local",
                           "--data-dir", str(tmp_path), "--store", str(tmp_path / "s.sqlite")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert ("in-domain train and 1,043 dev sentences, not v1.1's 8,551 and 1,043 (a file cut short or edited?)"
            in " ".join(done.stderr.split()))
