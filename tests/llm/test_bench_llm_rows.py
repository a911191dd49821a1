"""bench/quality.py's LLM rows (issue 7: "with an LLM configured it adds that proposer's rows"): a
live run over the Anthropic wire format (the fake server, answered by the scripted model), recorded
per row and seed, then replayed from those transcripts to the same rows."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import require_docker
from fake_servers import FakeLLMServer
from llm_helpers import ROOT
from scripted import CREATOR_MODEL, REPAIRER_MODEL, ScriptedModel

ROW_KEYS = ("test_mcc", "validation_mcc", "train_mcc", "candidates", "accepted", "tokens", "parse_failures")


def quality(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "bench" / "quality.py"), "--seeds", "0", "--iters", "3",
                           "--batch", "1", "--workers", "2", "--llm-only", *args],
                          capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


def test_llm_rows_are_recorded_and_replayed(tmp_path):
    require_docker()
    transcripts = tmp_path / "transcripts"
    with FakeLLMServer(pulled=(REPAIRER_MODEL,), responder=ScriptedModel()) as server:
        live = quality("--proposer", "anthropic", "--model", CREATOR_MODEL, "--transcripts", str(transcripts),
                       "--out", str(tmp_path / "live.json"),
                       env={"ANTHROPIC_API_KEY": "sk-ant-fake-for-tests", "ANTHROPIC_BASE_URL": server.url})
    assert live.returncode == 0, live.stderr
    report = json.loads((tmp_path / "live.json").read_text())
    names = [f"evolve (anthropic:{CREATOR_MODEL})", f"best-of-n (anthropic:{CREATOR_MODEL})"]
    assert list(report["methods"]) == names and "targets" not in report
    for name in names:
        row = report["methods"][name]["rows"][0]
        assert row["candidates"] == 3 and row["tokens"] > 0  # every token of the proposer counted
    assert sorted(p.name for p in transcripts.iterdir()) == ["best-of-n-seed0.jsonl", "evolve-seed0.jsonl"]
    assert "tokens" in live.stdout  # the table has the column

    replayed = quality("--proposer", "replay", "--transcripts", str(transcripts), "--out", str(tmp_path / "replay.json"))
    assert replayed.returncode == 0, replayed.stderr
    again = json.loads((tmp_path / "replay.json").read_text())
    for live_name, replay_name in zip(names, ["evolve (replay)", "best-of-n (replay)"]):
        a, b = report["methods"][live_name]["rows"][0], again["methods"][replay_name]["rows"][0]
        assert {k: a.get(k) for k in ROW_KEYS} == {k: b.get(k) for k in ROW_KEYS}
        assert a["chosen"].split("-")[-2:] == b["chosen"].split("-")[-2:]  # the same iteration and slot of its run


def test_replay_rows_need_their_transcripts():
    done = quality("--proposer", "replay")
    assert done.returncode != 0 and "--transcripts DIR" in done.stderr
