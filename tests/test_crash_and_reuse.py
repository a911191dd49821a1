"""Crash safety, resume, concurrency and reuse, with real processes, real Docker and real SQLite."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from conftest import require_docker
from test_cli import BIN, run


def _stored(store: str) -> int:
    if not Path(store).exists():
        return 0
    try:
        db = sqlite3.connect(store, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return 0


def test_sigkill_mid_run_then_resume(tmp_path):
    require_docker()
    store = str(tmp_path / "s.sqlite")
    proc = subprocess.Popen([str(BIN / "evolve"), "--task", "cola", "--iters", "6", "--batch", "3", "--store", store,
                             "--sandbox", "docker", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _stored(store) < 5 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = _stored(store)
    assert killed_at >= 5

    runs = json.loads(run("skills", "runs", "--store", store, "--json").stdout)
    assert len(runs) == 1 and runs[0]["status"] == "died"  # 'running' in the store, its process gone: as the table says
    assert runs[0]["candidates"] == killed_at  # counted from the store, as no summary was written
    assert runs[0]["process"] == "gone"  # its process is dead: the table says 'died', runs show says how to resume
    assert "died" in run("skills", "runs", "--store", store).stdout
    shown = run("skills", "runs", "show", runs[0]["run_id"], "--store", store).stdout
    assert f"evolve --resume {runs[0]['run_id']}" in shown
    # what it stored before it died is its best so far: the table, runs show and the report all say so
    versions = sqlite3.connect(store).execute("SELECT name, version FROM skill_versions ORDER BY version").fetchall()
    assert versions  # the run's first candidate, the global fit, is accepted and stored at once
    name, version = versions[-1]
    assert runs[0]["best"] == f"{name}@{version}" and f"best: {name}@{version} (candidate" in shown
    report = tmp_path / "died.html"
    assert run("skills", "report", runs[0]["run_id"], "-o", str(report), "--store", store).returncode == 0
    html = report.read_text()
    assert f"{name}@{version} (candidate" in html and "died before it finished" in html
    assert "not recorded: the run has not finished" in html
    first_part = sqlite3.connect(store).execute(  # from the run's start to its last stored candidate, in seconds
        "SELECT (julianday(MAX(c.created_at)) - julianday(r.started_at)) * 86400 FROM candidates c JOIN runs r "
        "ON c.run_id = r.id").fetchone()[0]
    done = run("evolve", "--resume", runs[0]["run_id"], "--store", store, "--json", "--iters", "9", "--seed", "5")
    assert done.returncode == 0, done.stderr
    assert "ignoring --iters, --seed" in done.stderr  # the run's own settings win, and it says so
    summary = json.loads(done.stdout)
    assert summary["resumed"] is True
    assert summary["wall_s"] >= first_part - 1  # the killed part's time counts too (its summary was never written)
    assert summary["candidates"] == 6 * 3  # every slot exactly once: nothing lost, nothing twice
    db = sqlite3.connect(store)
    ids = [r[0] for r in db.execute("SELECT id FROM candidates")]
    assert len(ids) == len(set(ids)) == 18
    assert db.execute("SELECT status FROM runs").fetchone()[0] == "finished"
    again = run("evolve", "--resume", runs[0]["run_id"], "--store", store)
    assert again.returncode == 2 and "already finished" in again.stderr


def test_two_runs_write_one_store_at_once(tmp_path):
    require_docker()
    store = str(tmp_path / "s.sqlite")
    cmd = lambda seed: [str(BIN / "evolve"), "--task", "cola", "--iters", "3", "--batch", "3", "--seed", str(seed),  # noqa: E731
                        "--workers", "1", "--store", store, "--sandbox", "docker", "--json"]
    procs = [subprocess.Popen(cmd(seed), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    outs = [p.communicate(timeout=400) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    summaries = [json.loads(out) for out, _ in outs]
    db = sqlite3.connect(store)
    for s in summaries:
        stored = db.execute("SELECT COUNT(*) FROM candidates WHERE run_id = ?", (s["run_id"],)).fetchone()[0]
        assert stored == s["candidates"] == 9
    versions = [r[0] for r in db.execute("SELECT version FROM skill_versions ORDER BY version")]
    assert versions == list(range(1, len(versions) + 1))  # no version number taken twice


def test_second_run_starts_at_or_above_the_reused_skill(tmp_path):
    require_docker()
    store = str(tmp_path / "s.sqlite")
    first = json.loads(run("evolve", "--task", "cola", "--iters", "3", "--store", store, "--sandbox", "docker",
                           "--json").stdout)
    best = first["best"]
    ref = f"{best['name']}@{best['version']}"
    stored_val = json.loads(run("skills", "show", ref, "--store", store, "--json").stdout)["metrics"]["validation"]["mcc"]
    second = run("evolve", "--task", "cola", "--iters", "1", "--batch", "1", "--seed", "9", "--reuse", ref,
                 "--name", "cola-second", "--store", store, "--sandbox", "docker", "--json")
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)
    assert summary["best"]["metrics"]["validation"]["mcc"] >= stored_val
    db = sqlite3.connect(store)
    seed_row = db.execute("SELECT proposer, model, accepted FROM candidates WHERE id LIKE '%-seed-0'").fetchone()
    assert seed_row == ("reuse", ref, 1)  # re-scored under the current data, and accepted again


def test_reuse_refuses_a_skill_of_another_task_or_retired(tmp_path):
    from skills_store.store import Store

    path = tmp_path / "s.sqlite"
    s = Store(path)
    metrics = {"validation": {"mcc": 0.2}}
    s.offer_version("other", "sst2", "def solve(text):\n    return 1\n", metrics, {}, (), {}, None)
    s.offer_version("old", "cola", "def solve(text):\n    return 1\n", metrics, {}, (), {}, None)
    s.retire("old", "test")
    s.close()
    done = run("evolve", "--task", "cola", "--reuse", "other", "--store", str(path))
    assert done.returncode == 2 and "is for task 'sst2'" in done.stderr
    done = run("evolve", "--task", "cola", "--reuse", "old", "--store", str(path))
    assert done.returncode == 2 and "old is retired; name a version (NAME@V) to use it anyway" in done.stderr
    # a named version may be used, as --library allows (reuse audit: --reuse NAME@V of a retired skill was refused)
    done = run("evolve", "--task", "cola", "--iters", "1", "--batch", "1", "--reuse", "old@1", "--sandbox", "local",
               "--store", str(path))
    assert done.returncode == 0 and "seeded with old@1" in done.stderr, done.stderr


def test_ctrl_c_names_the_run_and_writes_its_report(tmp_path):
    store = str(tmp_path / "s.sqlite")
    proc = subprocess.Popen([str(BIN / "evolve"), "--task", "cola", "--iters", "50", "--store", store,
                             "--sandbox", "local", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 240
    while _stored(store) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    run_id = sqlite3.connect(store).execute("SELECT id FROM runs").fetchone()[0]
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert json.loads(out) == {"error": "interrupted", "exit_code": 130, "run_id": run_id}  # a script can resume it
    assert f"interrupted: run {run_id} is stored" in err and f"`evolve --resume {run_id}` continues it" in err
    assert (tmp_path / "reports" / f"{run_id}.html").exists() and f"report {tmp_path / 'reports'}" in err
    assert f"of 50 iterations (`evolve --resume {run_id}` continues it)" in (tmp_path / "reports" / f"{run_id}.html").read_text()


def test_ctrl_c_before_the_first_verdict_says_the_run_starts_on_resume(tmp_path):
    """It said 'stored with the candidates it evaluated; ... has no candidates yet; nothing to report'."""
    store = str(tmp_path / "s.sqlite")
    proc = subprocess.Popen([str(BIN / "evolve"), "--task", "cola", "--iters", "2", "--store", store,
                             "--sandbox", "local", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def runs() -> int:
        try:
            return sqlite3.connect(store, timeout=5).execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    deadline = time.monotonic() + 120
    while not runs() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None and _stored(store) == 0, "the run judged a candidate before it could be interrupted"
    proc.send_signal(signal.SIGINT)  # the run is stored; its first candidate (the global fit) is being made
    out, err = proc.communicate(timeout=120)
    run_id = sqlite3.connect(store).execute("SELECT id FROM runs").fetchone()[0]
    assert proc.returncode == 130 and "Traceback" not in err, err
    if _stored(store) == 0:
        assert f"run {run_id} was stored before any candidate was judged; `evolve --resume {run_id}` starts it" in err
        assert "nothing to report" not in err and json.loads(out)["run_id"] == run_id


def test_ctrl_c_twice_mid_run_is_one_message_no_traceback(tmp_path):
    """Ctrl-C in a terminal signals the whole process group, and impatient users press it twice."""
    store = str(tmp_path / "s.sqlite")
    proc = subprocess.Popen([str(BIN / "evolve"), "--task", "cola", "--iters", "50", "--store", store,
                             "--sandbox", "local"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a job started in the
    deadline = time.monotonic() + 240                                       # background inherits SIGINT ignored
    while _stored(store) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "interrupted: run " in err and "is stored with the candidates it evaluated" in err
    db = sqlite3.connect(store)
    assert db.execute("SELECT status FROM runs").fetchone()[0] == "interrupted"


def test_ctrl_c_while_the_sandbox_pool_starts_leaves_no_container(tmp_path):
    """Interrupted while its containers start (six, on two cores, take a few seconds), evolve removes every
    container it made: none is left running or stopped."""
    require_docker()
    import docker

    client = docker.from_env()
    proc = subprocess.Popen([str(BIN / "evolve"), "--task", "cola", "--iters", "2", "--workers", "6",
                             "--store", str(tmp_path / "s.sqlite"), "--sandbox", "docker"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    mine = {"label": f"skillkiln.sandbox={proc.pid}"}
    deadline = time.monotonic() + 120
    listed = lambda: client.containers.list(all=True, sparse=True, filters=mine)  # noqa: E731 - no inspect: no race
    while not listed() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before its pool started"
    proc.send_signal(signal.SIGINT)  # the first container exists; the others are still starting
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    left = listed()
    assert left == [], [(c.short_id, c.attrs.get("State")) for c in left]


def test_resume_refuses_a_run_that_is_still_running(tmp_path):
    store = str(tmp_path / "s.sqlite")
    proc = subprocess.Popen([str(BIN / "evolve"), "--task", "cola", "--iters", "50", "--store", store,
                             "--sandbox", "local"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while _stored(store) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended too soon"
        runs = json.loads(run("skills", "runs", "--store", store, "--json").stdout)
        assert runs[0]["status"] == "running" and runs[0]["process"] == "alive"
        again = run("evolve", "--resume", runs[0]["run_id"], "--store", store)
        assert again.returncode == 2 and f"is still running (pid {proc.pid})" in again.stderr
    finally:
        proc.kill()
        proc.communicate()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_sigterm_mid_request_ends_the_run_at_once_and_leaves_no_container(tmp_path, stop):
    """SIGTERM goes the way of Ctrl-C: the run is stored as interrupted and its containers removed,
    and the request under way is cut short (the main thread waited for it, up to its 120 s deadline:
    a thread in select() on a closed socket is not woken; shutting the socket down wakes it)."""
    require_docker()

    import docker

    slow = ("```python\ndef solve(text):\n    n = 0\n    for i in range(300000):\n        n += i\n"
            "    return 1 if len(text) % 2 else 0\n```\n")  # about 10 ms a text: minutes for train
    header = {"kind": "header", "format": "skillkiln-transcript", "version": 1, "created_at": "2026-12-07T00:00:00+00:00",
              "creator": "anthropic:claude-opus-5-5", "settings": {"task": "cola", "seed": 0, "strategy": "evolve", "batch": 1}}
    calls = [{"kind": "call", "seq": i, "role": "creator", "provider": "anthropic", "model": "claude-opus-5-5",
              "request": {}, "response": {"text": slow + f"# {i}\n", "usage": {"prompt": 10, "completion": 10}}}
             for i in range(3)]
    transcript = tmp_path / "slow.jsonl"
    transcript.write_text("\n".join(json.dumps(x) for x in [header, *calls]) + "\n")
    proc = subprocess.Popen([str(BIN / "evolve"), "--task", "cola", "--iters", "3", "--proposer", "replay",
                             "--transcript", str(transcript), "--store", str(tmp_path / "s.sqlite"), "--sandbox", "docker"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    client = docker.from_env()
    listed = lambda: client.containers.list(all=True, sparse=True, filters={"label": f"skillkiln.sandbox={proc.pid}"})  # noqa: E731
    deadline = time.monotonic() + 120
    while not listed() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(5)  # the pool is up; the slow candidate's first request is under way
    assert proc.poll() is None, "the run ended before it could be stopped"
    sent = time.monotonic()
    proc.send_signal(stop)  # SIGHUP: the terminal closed (fault audit: exit 129, no word, the run 'died',
    _, err = proc.communicate(timeout=120)  # its containers left behind)
    assert time.monotonic() - sent < 30, "it waited for the request's deadline"
    assert proc.returncode == 128 + stop and "Traceback" not in err, err
    said = "SIGTERM" if stop == signal.SIGTERM else "SIGHUP: the terminal closed"
    assert f"terminated ({said}): run " in err and "was stored before any candidate was judged" in err  # the first
    assert listed() == []
