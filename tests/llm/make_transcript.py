"""Record tests/llm/transcripts/cola_small.jsonl: a live 25-iteration `evolve` against the fake
servers (creator anthropic:claude-opus-5-5 over the Anthropic wire format, repairer
ollama:qwen2.5-coder:32b over Ollama's), answered by the scripted model, written by `--record`.

    SKILLKILN_DATA_DIR=../shared/data .venv/bin/python tests/llm/make_transcript.py [OUT.jsonl]

Prints the run's summary (JSON) on stdout. Only 127.0.0.1 is contacted. The shipped transcript keeps
each request's sha256 but not its prompt text (see `compact`).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fake_servers import FakeLLMServer  # noqa: E402
from scripted import CREATOR_MODEL, REPAIRER_MODEL, ScriptedModel  # noqa: E402

TRANSCRIPT = HERE / "transcripts" / "cola_small.jsonl"
BIN = Path(sys.executable).parent


def record(out: Path, iters: int = 25, extra: tuple[str, ...] = ()) -> dict:
    with FakeLLMServer(pulled=(REPAIRER_MODEL,), responder=ScriptedModel()) as server, \
            tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-fake-for-tests", "ANTHROPIC_BASE_URL": server.url,
               "COLUMNS": "200"}
        done = subprocess.run(
            [str(BIN / "evolve"), "--task", "cola", "--iters", str(iters), "--batch", "1",
             "--creator", f"anthropic:{CREATOR_MODEL}", "--repairer", f"ollama:{REPAIRER_MODEL}",
             "--ollama-host", server.url, "--record", str(out), "--store", str(Path(tmp) / "store.sqlite"),
             "--json", *extra],
            capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"evolve failed ({done.returncode}):\n{done.stderr}")
        return json.loads(done.stdout)


def compact(path: Path) -> None:
    """Drop the request bodies (the prompts, full of CoLA train sentences), keep their sha256: a replay
    needs only the responses, and compares its own prompts with the recorded hashes."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    for row in rows:
        if row.get("kind") == "call":
            row["request"] = {k: v for k, v in row["request"].items() if k not in ("system", "messages")}
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else TRANSCRIPT
    summary = record(target)
    compact(target)
    print(json.dumps(summary, indent=2))
