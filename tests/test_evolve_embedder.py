"""evolve --embedder: failure clusters from Ollama embeddings (a local server speaking /api/embed)."""
from __future__ import annotations

import json

from conftest import require_docker
from skills_store.store import Store
from test_cli import one_line_error, run
from test_evidence import EmbedServer


def test_unknown_or_unreachable_embedder_fails_in_one_line(tmp_path):
    store = str(tmp_path / "s.sqlite")
    bad = run("evolve", "--task", "cola", "--iters", "1", "--embedder", "nope", "--store", store)
    assert bad.returncode != 0 and "unknown embedder 'nope'" in one_line_error(bad)
    dead = run("evolve", "--task", "cola", "--iters", "1", "--embedder", "ollama", "--ollama-host",
               "http://127.0.0.1:9", "--store", store)
    assert dead.returncode != 0 and "not reachable" in one_line_error(dead)
    missing = EmbedServer(missing_model=True)
    try:
        gone = run("evolve", "--task", "cola", "--iters", "1", "--embedder", "ollama:all-minilm", "--ollama-host",
                   missing.url, "--store", store)
    finally:
        missing.close()
    assert gone.returncode != 0 and "ollama pull all-minilm" in one_line_error(gone)
    assert Store(tmp_path / "s.sqlite").runs() == []  # nothing started


def test_evolve_clusters_with_ollama_embeddings(tmp_path):
    require_docker()
    server = EmbedServer()
    try:
        done = run("evolve", "--task", "cola", "--iters", "2", "--embedder", "ollama", "--ollama-host", server.url,
                   "--store", str(tmp_path / "s.sqlite"), "--sandbox", "docker", "--json")
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    stats = Store(tmp_path / "s.sqlite").iterations(summary["run_id"])
    assert [s["iteration"] for s in stats] == [1]  # iteration 0 has no elite yet
    assert stats[0]["embedder"] == "ollama:nomic-embed-text" and stats[0]["clusters"] >= 1
    assert {c["model"] for c in server.calls} == {"nomic-embed-text"}
    assert json.loads(Store(tmp_path / "s.sqlite").run(summary["run_id"])["config"])["embedder"] == "ollama"
