"""Transcripts: --record writes every call, --proposer replay answers from it, and a replayed run
repeats exactly (the shipped transcript was recorded against the fake servers by make_transcript.py)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.config import RunConfig
from engine.errors import SkillkilnError, StopRun
from engine.proposers.ollama_provider import OllamaModel
from engine.proposers.replay import RecordingModel, ReplayModel, Transcript, TranscriptWriter
from fake_servers import ollama_chat
from llm_helpers import BIN, FAST, TRANSCRIPT, server  # noqa: F401 - fixtures

USER = [{"role": "user", "content": "write a skill"}]


def test_record_then_replay_gives_the_same_completions(server, tmp_path):
    server.push("ollama", ollama_chat("first answer", "qwen2.5-coder:32b", 100, 10),
                ollama_chat("a repair", "qwen2.5-coder:32b", 50, 5))
    live = OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST)
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter.open(path, RunConfig(task="cola", seed=3), "ollama:qwen2.5-coder:32b", "ollama:qwen2.5-coder:32b")
    creator, repairer = RecordingModel(live, "creator", writer), RecordingModel(live, "repairer", writer)
    recorded = [creator.complete(USER, "sys", 64, 0.8, 1), repairer.complete(USER, "sys", 64, 0.2, 2)]
    writer.close()

    transcript = Transcript.load(path)
    assert transcript.header["settings"]["seed"] == 3 and len(transcript.calls) == 2
    replay_c, replay_r = ReplayModel(transcript, "creator"), ReplayModel(transcript, "repairer")
    assert (replay_c.provider, replay_c.model) == ("ollama", "qwen2.5-coder:32b")
    again = [replay_c.complete(USER, "sys", 64, 0.8, 1), replay_r.complete(USER, "sys", 64, 0.2, 2)]
    assert again == recorded and transcript.mismatches == 0
    assert not any(c.estimated for c in again)
    with pytest.raises(StopRun, match="no more creator calls"):  # a clean stop of the run, not a failure
        replay_c.complete(USER, "sys", 64, 0.8, 1)
    assert Transcript.load(path).differences(RunConfig(task="cola", seed=4))  # another seed: prompts will differ


def test_a_changed_prompt_is_counted_not_fatal(tmp_path):
    transcript = Transcript.load(TRANSCRIPT)
    ReplayModel(transcript, "creator").complete([{"role": "user", "content": "something else"}], "sys", 1, 0.0)
    assert transcript.mismatches == 1


def test_bad_transcripts_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "call"}\n')
    with pytest.raises(SkillkilnError, match="not a skillkiln transcript"):
        Transcript.load(bad)
    with pytest.raises(SkillkilnError, match="cannot read the transcript"):
        Transcript.load(tmp_path / "missing.jsonl")
    whole = TRANSCRIPT.read_text()
    cut = tmp_path / "cut.jsonl"  # a recording killed in the middle of its last line: the whole calls replay
    cut.write_text(whole[: whole.rstrip("\n").rfind("\n") + 40])
    assert len(Transcript.load(cut).calls) == len(Transcript.load(TRANSCRIPT).calls) - 1
    cut.write_text(whole.replace("\n", "\n{broken\n", 1))  # a broken line inside: refused
    with pytest.raises(SkillkilnError, match="line 2 is not JSON"):
        Transcript.load(cut)
    for content in (bytes(range(256)), b"[1, 2]\n", b"42\n"):  # not text; JSON but no object
        bad.write_bytes(content)
        with pytest.raises(SkillkilnError, match="not a skillkiln transcript"):
            Transcript.load(bad)
    # calls a replay would trip over later (an 'unexpected TypeError', negative tokens in the ledger),
    # or none to replay at all (a run of 0 candidates, exit 0): refused at load, in one line
    header, *calls = [json.loads(line) for line in whole.splitlines()]

    def with_first(**change) -> str:
        first = json.loads(json.dumps(calls[0]))
        for key, value in change.items():
            if key == "role":
                first["role"] = value
            else:
                first["response"][key] = value
        return "\n".join(json.dumps(x) for x in [header, first, *calls[1:]]) + "\n"

    for content, says in ((with_first(role="Creator"), "has role 'Creator'"),
                          (with_first(text=None), "its response's text is not a string"),
                          (with_first(usage={"prompt": -5000000, "completion": 10}), "from 0 to"),
                          (with_first(usage={"prompt": "lots", "completion": 10}), "whole numbers"),
                          (json.dumps(header) + "\n", "holds no creator call")):
        bad.write_text(content)
        with pytest.raises(SkillkilnError, match=says):
            Transcript.load(bad)


def test_counts_a_transcript_leaves_out_are_estimated_not_zero(tmp_path):
    """A hand-written transcript (or one from a proxy) may hold no usage: its calls were booked at 0 tokens,
    which the ledger, the direct baseline's comparison and a --max-cost-usd cap never saw. They are estimated
    from the prompt and the answer, as for a live server that leaves a count out, and counted as estimated."""
    from engine.ledger import CHARS_PER_TOKEN

    header, first, *rest = [json.loads(line) for line in TRANSCRIPT.read_text().splitlines()]
    first["response"].pop("usage", None)
    path = tmp_path / "no_usage.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [header, first, *rest]) + "\n")
    done = ReplayModel(Transcript.load(path), first["role"]).complete(USER, "a system prompt", 4096, 0.8, 0)
    prompt_chars = len("a system prompt") + len(USER[0]["content"])
    assert done.estimated and done.usage.prompt == -(-prompt_chars // CHARS_PER_TOKEN) > 0
    assert done.usage.completion == -(-len(done.text) // CHARS_PER_TOKEN) > 0


def test_flag_conflicts_are_usage_errors(tmp_path):
    from engine.cli import evolve

    store = str(tmp_path / "s.sqlite")
    for args, words in [
        (["--proposer", "replay"], "needs --transcript"),
        (["--transcript", str(TRANSCRIPT), "--creator", "ollama:llama3.2:3b"], "--transcript is for --proposer replay"),
        (["--proposer", "offline", "--max-cost-usd", "1"], "only for an LLM proposer (--proposer ollama, anthropic or replay)"),
        # a replay refuses --record: the message offered it (README audit)
        (["--proposer", "offline", "--strategy", "best-of-n", "--record", "t.jsonl"],
         "--record: only for an LLM proposer (--proposer ollama or anthropic)"),
        (["--proposer", "ollama", "--creator", "anthropic:claude-opus-4-5"], "conflicts"),
        (["--creator", "openai:gpt"], "unknown provider 'openai'"),
    ]:
        result = CliRunner().invoke(evolve, ["--task", "cola", "--store", store, *args])
        assert result.exit_code != 0 and words in (result.output + str(result.exception)), (args, result.output)


def normalised(summary: dict) -> dict:
    """Everything but the run id, wall times and paths."""
    out = {k: v for k, v in summary.items() if k not in ("run_id", "wall_s", "sandbox_s", "store", "report")}
    if out.get("best"):
        out["best"] = {**out["best"], "candidate_id": out["best"]["candidate_id"].split("-")[-2:]}
    return out


def test_a_replayed_run_repeats_exactly(tmp_path):
    """25 iterations from the shipped transcript, twice (side by side): the same summary."""
    procs = []
    for i in (1, 2):
        procs.append(subprocess.Popen(
            [str(BIN / "evolve"), "--task", "cola", "--iters", "25", "--proposer", "replay", "--transcript", str(TRANSCRIPT),
             "--store", str(tmp_path / f"s{i}.sqlite"), "--workers", "1", "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "200"}))
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    first, second = (json.loads(out) for out, _ in outs)
    assert normalised(first) == normalised(second)

    recorded = Transcript.load(TRANSCRIPT)
    assert first["candidates"] == 25 and first["proposer"] == "replay"
    assert first["llm"]["creator"] == recorded.header["creator"] and first["llm"]["repairer"] == recorded.header["repairer"]
    assert first["llm"]["replay"]["calls"] <= len(recorded.calls)
    # every prompt is the recorded one (after a prompt change, re-record with tests/llm/make_transcript.py)
    assert first["llm"]["replay"]["prompt_mismatches"] == 0
    # the ledger repeats the recorded tokens and prices them
    ledger = first["ledger"]
    assert ledger["calls"] == first["llm"]["replay"]["calls"] and ledger["cost_usd"] > 0
    assert ledger["total"] == first["tokens"]["total"]
    creator = first["llm"]["models"][recorded.header["creator"]]
    assert creator["created"] == 25 and creator["first_failures"] >= 5 and creator["failed_after_repair"] >= 1
    assert first["parse_failures"] >= 1 and first["accepted_count"] >= 1
    assert any(r.startswith("constant_output") for r in first["rejections"])  # the trivial `return True` skills


def test_a_replay_longer_than_its_transcript_stops_cleanly_with_its_summary(tmp_path):
    done = subprocess.run(
        [str(BIN / "evolve"), "--task", "cola", "--iters", "30", "--proposer", "replay", "--transcript", str(TRANSCRIPT),
         "--store", str(tmp_path / "s.sqlite"), "--workers", "1", "--json"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["stop_reason"].startswith("transcript cola_small.jsonl has no more creator calls")
    assert summary["candidates"] == 25 and summary["report"]


def test_a_run_stopped_before_its_first_candidate_says_it_has_no_report(tmp_path):
    """A cost cap below one call's price: the warning advised `skills report RUN -o FILE`, which refuses such a run
    (README audit)."""
    done = subprocess.run(
        [str(BIN / "evolve"), "--task", "cola", "--iters", "5", "--proposer", "replay", "--transcript", str(TRANSCRIPT),
         "--store", str(tmp_path / "s.sqlite"), "--workers", "1", "--max-cost-usd", "0.0001", "--json"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=300)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["candidates"] == 0 and summary["report"] is None and summary["stop_reason"].startswith("max cost")
    run_id = summary["run_id"]
    said = " ".join(done.stderr.split())
    assert f"run {run_id} ended before any candidate, so it has no report; `skills runs show {run_id}` shows it" in said
    assert "warning: report" not in said and "skills report" not in said
    shown = subprocess.run([str(BIN / "skills"), "runs", "show", run_id, "--store", str(tmp_path / "s.sqlite")],
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "stopped: max cost reached" in shown.stdout


def test_record_leaves_files_alone_until_the_first_call_and_never_takes_the_store(server, tmp_path):
    """--record opened (emptied) its file before the key was checked: a run refused at its start
    truncated a kept transcript to its header, and --record onto the store destroyed the store."""
    from test_cli import one_line_error, run

    kept = tmp_path / "keep.jsonl"
    kept.write_text(TRANSCRIPT.read_text())
    server.rejected_keys.add("sk-ant-revoked")
    env = {"ANTHROPIC_API_KEY": "sk-ant-revoked", "ANTHROPIC_BASE_URL": server.url}
    store = tmp_path / "s.sqlite"
    done = run("evolve", "--task", "cola", "--proposer", "anthropic", "--record", str(kept), "--store", str(store),
               env=env, timeout=120)
    assert done.returncode == 2 and "rejected the API key" in one_line_error(done)
    assert kept.read_text() == TRANSCRIPT.read_text()
    for target in (store, Path(str(store) + "-wal")):
        done = run("evolve", "--task", "cola", "--proposer", "anthropic", "--record", str(target), "--store", str(store),
                   env=env, timeout=120)
        assert done.returncode == 2 and "is the store's own file" in one_line_error(done)
    assert run("skills", "verify", "--store", str(store)).returncode == 0


def test_a_transcript_that_cannot_be_written_stops_recording_not_the_run(server):
    """A full disk mid-run: the paid answer is returned (and ledgered by the proposer), with a warning."""
    said: list[str] = []
    server.push("ollama", ollama_chat("first answer", "qwen2.5-coder:32b", 100, 10))
    live = OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST)
    writer = TranscriptWriter.open("/dev/full", RunConfig(task="cola"), "ollama:x", "ollama:x", said.append)
    done = RecordingModel(live, "creator", writer).complete(USER, "sys", 64, 0.8, 1)
    assert done.text == "first answer" and done.usage.prompt == 100
    assert writer.failed and said and "could not be written" in said[0] and "the run goes on" in said[0]


def test_a_resumed_replay_goes_on_where_the_transcript_stopped(tmp_path):
    """A replay stopped after 3 creator calls, resumed with the whole transcript: iterations 3 and 4
    get the recording's 4th and 5th answers, as in one uninterrupted replay (they got the 1st and 2nd
    again, stored as duplicates, and their tokens were counted twice)."""
    import sqlite3

    lines = TRANSCRIPT.read_text().splitlines()
    creators = [i for i, line in enumerate(lines) if '"role": "creator"' in line]
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join(lines[:creators[3]]) + "\n")  # the header and everything before the 4th creator call

    def evolve(store, *more):
        return subprocess.run([str(BIN / "evolve"), "--task", "cola", "--iters", "5", "--proposer", "replay",
                               "--transcript", str(path), "--store", str(store), "--workers", "1", "--json", *more],
                              capture_output=True, text=True, timeout=600)

    first = evolve(tmp_path / "a.sqlite")
    assert first.returncode == 0, first.stderr
    run_id = json.loads(first.stdout)["run_id"]
    path.write_text(TRANSCRIPT.read_text())
    resumed = subprocess.run([str(BIN / "evolve"), "--resume", run_id, "--store", str(tmp_path / "a.sqlite"), "--json"],
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    whole = evolve(tmp_path / "b.sqlite")
    assert whole.returncode == 0, whole.stderr

    def codes(store):
        rows = sqlite3.connect(store).execute("SELECT iteration, code_sha256 FROM candidates ORDER BY iteration")
        return [r for r in rows]

    assert codes(tmp_path / "a.sqlite") == codes(tmp_path / "b.sqlite")
    assert json.loads(resumed.stdout)["ledger"]["total"] == json.loads(whole.stdout)["ledger"]["total"]


class _InterruptOnce:
    """The local sandbox, which raises KeyboardInterrupt (a Ctrl-C) once: on its first request after WHEN()."""

    def __init__(self, inner, when):
        self.inner, self.when, self.fired = inner, when, False
        self.name, self.label = inner.name, getattr(inner, "label", inner.name)

    def run(self, *args, **kwargs):
        if not self.fired and self.when():
            self.fired = True
            raise KeyboardInterrupt
        return self.inner.run(*args, **kwargs)

    def close(self):
        pass


@pytest.mark.parametrize("where", ["judging", "between", "killed", "repair", "repair-killed"])
def test_an_interrupted_replay_resumes_in_step_with_its_transcript(where, cola, local_backend, tmp_path):
    """Ctrl-C while the sandbox judges iteration 2's answer, or between iterations 2 and 3, or a kill -9
    (no summary written) while it judges, then --resume: the resumed run judges the answer it already had
    (it asked again before: every later answer came one call late), its prompts are the recorded ones (the
    last iteration's gate details were lost), and its ledger counts each recorded call once, with its role
    and model (after a kill -9 it was rebuilt from the candidates, under the unpriced model "replay:...").
    Interrupted (or killed) inside the first repair call, the resume takes the creator's answer it paid for
    and asks for the repair: it asked the creator again, or judged the answer unrepaired, out of step."""
    from engine.loop import Run
    from engine.proposers import make_proposer
    from skills_store.store import Store

    cfg = RunConfig(task="cola", iters=25, batch=1, proposer="replay", transcript=str(TRANSCRIPT), sandbox="local",
                    workers=1)

    def proposer():
        return make_proposer("replay", cfg.seed, cfg, lambda _msg: None, task="cola")

    def codes(store, run_id):
        return [(r["iteration"], r["code_sha256"]) for r in store.candidates(run_id)]

    straight_store = Store(tmp_path / "straight.sqlite")
    straight = Run(cfg, cola, local_backend, proposer(), straight_store).execute()
    assert straight["llm"]["replay"]["prompt_mismatches"] == 0

    store = Store(tmp_path / "cut.sqlite")
    first = proposer()
    creators = lambda: first.creator.transcript.cursors.get("creator", 0)  # noqa: E731
    backend = _InterruptOnce(local_backend, lambda: creators() >= 3)
    run = Run(cfg, cola, backend, first, store)
    if where == "between":  # after iteration 2 is stored, before iteration 3 asks
        def progress(done, _snap):
            if done == 3:
                raise KeyboardInterrupt
        backend.when = lambda: False
    if where.startswith("repair"):  # the first repair call is interrupted as a Ctrl-C interrupts the SDK
        backend.when = lambda: False
        repairer = first.repairer

        class CtrlC:
            provider, model = repairer.provider, repairer.model

            def complete(self, *args, **kwargs):
                raise KeyboardInterrupt

        first.repairer = CtrlC()
    with pytest.raises(KeyboardInterrupt):
        run.execute(progress if where == "between" else None)
    if where.startswith("repair"):
        assert store.calls(run.run_id)[-1]["role"] == "creator" and not store.pending(run.run_id, 1)
    else:
        assert len(store.candidates(run.run_id)) == (3 if where == "between" else 2)
    if where == "repair-killed":
        with store.transaction() as db:
            db.execute("UPDATE runs SET summary = NULL, status = 'running' WHERE id = ?", (run.run_id,))
    if where == "killed":  # what a kill -9 leaves: no summary, still marked running
        with store.transaction() as db:
            db.execute("UPDATE runs SET summary = NULL, status = 'running' WHERE id = ?", (run.run_id,))
        from engine.report import render

        booked = len(store.calls(run.run_id))  # iterations 0 to 2: 3 creator calls and a repair
        assert booked == 4 and f"in {booked} model calls (" in render(store, run.run_id)  # the dead run's report
        shown = subprocess.run([str(BIN / "skills"), "runs", "show", run.run_id, "--store", str(store.path)],
                               capture_output=True, text=True, env={**os.environ, "COLUMNS": "300"})
        assert f"tokens in {booked} calls (anthropic:claude-opus-5-5 3 calls" in shown.stdout, shown.stdout
    again = proposer()
    resumed = Run.resume(cfg, cola, local_backend, again, store, run.run_id).execute()
    assert codes(store, run.run_id) == codes(straight_store, straight["run_id"])
    assert again.creator.transcript.mismatches == 0  # its prompts are the ones recorded
    assert resumed["ledger"]["per_call"] == straight["ledger"]["per_call"]
    answers = {key: m["answers"] for key, m in resumed["llm"]["models"].items()}  # a kill -9 lost the rest of the counts
    assert answers == {key: m["answers"] for key, m in straight["llm"]["models"].items()}
    booked = store.calls(run.run_id)  # every call was booked in the store as it came
    assert [(r["role"], r["provider"]) for r in booked] == [(c[0], c[1].split(":")[0])
                                                            for c in straight["ledger"]["per_call"]]
