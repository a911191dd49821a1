"""Evidence: embedders, the stated k rule, k-means, cluster stats and representatives."""
from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from engine.errors import SkillkilnError
from engine.evidence import (
    Evidence,
    HashedEmbedder,
    OllamaEmbedder,
    analyse,
    choose_k,
    kmeans,
    make_embedder,
)

TOPICS = {
    "who": ["Who did you see {} ?", "Who do you think {} left ?", "Who said that {} came ?"],
    "himself": ["John likes himself {} .", "Mary saw himself {} .", "They hurt himself {} ."],
    "put": ["She put the book {} .", "He put {} on the shelf .", "They put it {} there ."],
}


def corpus(n_per: int = 30) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for t, (_, forms) in enumerate(sorted(TOPICS.items())):
        for i in range(n_per):
            texts.append(forms[i % 3].format(f"w{i}"))
            labels.append(t % 2)
    return texts, labels


def test_choose_k_rule() -> None:
    assert choose_k(0) == 0 and choose_k(1) == 1 and choose_k(2) == 1
    assert choose_k(200) == 10 and choose_k(1900) == 31
    assert choose_k(100_000) == 40


def test_hashed_embedder_is_deterministic_normalised_and_cached() -> None:
    texts, _ = corpus()
    a, b = HashedEmbedder(dims=8), HashedEmbedder(dims=8)
    x = a.embed(texts)
    assert x.shape == (len(texts), 8)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0)
    assert np.allclose(x, b.embed(texts))
    assert a.embed(list(texts)) is x  # cached by content
    same_topic = x[0] @ x[3]
    other_topic = x[0] @ x[30]
    assert same_topic > other_topic


def test_kmeans_separates_blobs() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(3) * 5
    x = np.concatenate([c + rng.normal(size=(20, 3)) * 0.1 for c in centres])
    assign, _ = kmeans(x, 3, seed=1)
    for block in range(3):
        assert len(set(assign[block * 20 : (block + 1) * 20])) == 1
    assert len(set(assign)) == 3
    again, _ = kmeans(x, 3, seed=1)
    assert np.array_equal(assign, again)


def test_analyse_clusters_errors_reports_stats_and_representatives() -> None:
    texts, labels = corpus()
    preds = [1 - y for y in labels]  # everything wrong: 90 errors
    ev = analyse(texts, labels, preds, HashedEmbedder(dims=16), seed=0)
    assert isinstance(ev, Evidence) and ev.n_errors == 90
    stats = ev.stats()
    json.dumps(stats)
    assert stats["clusters"] == choose_k(90) == len(ev.clusters)
    assert stats["largest"] == max(c.size for c in ev.clusters)
    assert stats["average_size"] == pytest.approx(90 / stats["clusters"], abs=0.05)
    assert sum(c.size for c in ev.clusters) == 90
    sizes = [c.size for c in ev.clusters]
    assert sizes == sorted(sizes, reverse=True)
    reps = ev.representatives(5)
    assert len(reps) == 5 and len({r.cluster for r in reps}) == min(5, len(ev.clusters))
    assert reps[0].cluster == ev.clusters[0].id
    for r in reps:
        assert texts[r.index] == r.text and labels[r.index] == r.label and r.prediction != r.label
    assert ev.representatives(1000)[-1].index in ev.clusters[-1].indices or len(ev.representatives(1000)) == 90
    again = analyse(texts, labels, preds, HashedEmbedder(dims=16), seed=0)
    assert [c.indices for c in again.clusters] == [c.indices for c in ev.clusters]


def test_only_errors_are_clustered_and_none_counts_as_wrong() -> None:
    texts, labels = corpus()
    preds = list(labels)
    preds[0], preds[1], preds[2] = None, 1 - labels[1], 1 - labels[2]
    ev = analyse(texts, labels, preds, HashedEmbedder(dims=8))
    assert ev.n_errors == 3 and sorted(i for c in ev.clusters for i in c.indices) == [0, 1, 2]
    clean = analyse(texts, labels, list(labels), HashedEmbedder(dims=8))
    assert clean.clusters == [] and clean.stats()["clusters"] == 0 and clean.representatives(3) == []
    with pytest.raises(ValueError):
        analyse(texts, labels, preds[:-1])


def test_solved_clusters_come_after_unsolved() -> None:
    texts, labels = corpus()
    preds = [1 - y for y in labels]
    other = list(labels)  # gets everything right: every cluster is solved by it
    ev = analyse(texts, labels, preds, HashedEmbedder(dims=8), others=[other])
    assert all(c.solved for c in ev.clusters) and ev.unsolved() == []
    partial = [y if i < 30 else 1 - y for i, y in enumerate(labels)]  # solves the first topic only
    ev = analyse(texts, labels, preds, HashedEmbedder(dims=8), others=[partial])
    reps = ev.representatives(2)
    assert ev.stats()["unsolved"] == len(ev.unsolved()) < len(ev.clusters)
    assert all(r.index >= 30 for r in reps)


def test_analyse_is_fast_on_cola(cola) -> None:
    import time

    from engine.evidence import default_embedder

    train = cola.train
    rng = np.random.default_rng(0)
    preds = [y if rng.random() < 0.75 else 1 - y for y in train.labels]
    analyse(train.texts, train.labels, preds, default_embedder())  # embeds train once (cached)
    started = time.perf_counter()
    ev = analyse(train.texts, train.labels, preds, default_embedder(), others=[list(train.labels)[:10] + preds[10:]])
    assert time.perf_counter() - started < 1.0
    assert 1500 < ev.n_errors < 2300 and ev.stats()["clusters"] == choose_k(ev.n_errors)


# ----------------------------------------------------------------------------- Ollama, against a local fake


class EmbedServer:
    """/api/embed in Ollama's wire format on 127.0.0.1; a deterministic vector per input text."""

    def __init__(self, missing_model: bool = False, mode: str | None = None):
        """MODE: 'flaky' answers the first call with a 500; 'ragged' gives one vector of another length;
        'nan' puts a NaN in one vector."""
        self.calls: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.calls.append({"path": self.path, **body})
                if self.path != "/api/embed" or missing_model:
                    reply, status = {"error": f'model "{body.get("model")}" not found, try pulling it first'}, 404
                elif mode == "flaky" and len(server.calls) == 1:
                    reply, status = {"error": "the runner restarted"}, 500
                else:
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    vectors = [[float(len(t)), float(t.count("o")) + 1.0, float(sum(map(ord, t)) % 7)] for t in inputs]
                    if mode == "ragged":
                        vectors[-1] = vectors[-1][:2]
                    if mode == "nan":
                        vectors[0][1] = float("nan")
                    reply, status = {"model": body["model"], "embeddings": vectors, "total_duration": 14143917,
                                     "load_duration": 1019500, "prompt_eval_count": 8 * len(inputs)}, 200
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_ollama_embedder_batches_caches_and_normalises() -> None:
    server = EmbedServer()
    try:
        emb = make_embedder("ollama", host=server.url)
        assert isinstance(emb, OllamaEmbedder) and emb.name == "ollama:nomic-embed-text"
        emb.batch = 2
        texts = ["who left", "foo", "who left", "bar baz", "qux"]
        x = emb.embed(texts)
        assert x.shape == (5, 3) and np.allclose(np.linalg.norm(x, axis=1), 1.0)
        assert np.allclose(x[0], x[2])
        assert [c["path"] for c in server.calls] == ["/api/embed"] * 2  # 4 distinct texts in batches of 2
        assert all(c["model"] == "nomic-embed-text" for c in server.calls)
        assert emb.embed(["qux", "foo"]).shape == (2, 3) and len(server.calls) == 2  # cached per text
        ev = analyse(texts, [0, 1, 0, 1, 0], [1, 1, 1, 1, 1], emb)
        assert ev.embedder == "ollama:nomic-embed-text" and ev.n_errors == 3
    finally:
        server.close()


def test_ollama_embedder_errors_are_one_line() -> None:
    server = EmbedServer(missing_model=True)
    try:
        with pytest.raises(SkillkilnError, match="ollama pull nomic-embed-text"):
            OllamaEmbedder(host=server.url).embed(["a"])
    finally:
        server.close()
    with pytest.raises(SkillkilnError, match="not reachable"):
        OllamaEmbedder(host="http://127.0.0.1:9", timeout_s=2).embed(["a"])
    with pytest.raises(SkillkilnError):
        make_embedder("word2vec")


def test_ollama_embedder_retries_a_5xx_and_refuses_malformed_vectors_and_hosts() -> None:
    """Evidence audit: one 500 failed the whole run; vectors of two lengths were 'unexpected ValueError' (exit 3);
    a NaN collapsed every error into one cluster without a word; a host that is no URL was exit 3."""
    from engine.errors import SkillkilnError
    from engine.proposers.llm import RetryPolicy

    texts = ["who left", "foo", "bar baz"]
    server = EmbedServer(mode="flaky")
    try:
        slept: list[float] = []
        emb = OllamaEmbedder(host=server.url, retry=RetryPolicy(attempts=3, base_s=0.01), sleep=slept.append)
        assert emb.embed(texts).shape == (3, 3) and len(server.calls) == 2 and len(slept) == 1
    finally:
        server.close()
    for mode, said in (("ragged", "embeddings of different lengths (2, 3)"), ("nan", "finite numbers")):
        server = EmbedServer(mode=mode)
        try:
            with pytest.raises(SkillkilnError, match=r"malformed response: .*" + re.escape(said)):
                OllamaEmbedder(host=server.url).embed(texts)
        finally:
            server.close()
    with pytest.raises(SkillkilnError, match="is not a URL"):
        make_embedder("ollama", host="127.0.0.1:notaport")


def test_texts_in_other_scripts_embed_and_cluster_apart() -> None:
    """The embedder read only [a-z']: Chinese or Cyrillic texts embedded to zero vectors, all in one cluster."""
    from engine.evidence import HashedEmbedder

    groups = ["猫坐在垫子上", "今天天气很好", "Кошка сидит на ковре", "Сегодня хорошая погода"]
    texts = [g for g in groups for _ in range(10)]
    x = HashedEmbedder().embed(texts)
    assert (np.linalg.norm(x, axis=1) > 0).all()
    assert len({tuple(np.round(row, 6)) for row in x}) == 4
    evidence = analyse(texts, [0] * 40, [1] * 40, HashedEmbedder())
    assert evidence.k == 4 and len(evidence.clusters) == 4 and sorted(c.size for c in evidence.clusters) == [10] * 4
    assert HashedEmbedder().embed(["Don't go."]).shape[0] == 1  # English is read as before: letters and apostrophes


def test_a_big_table_is_embedded_from_a_sample_fit_in_chunks(monkeypatch):
    """Perf audit: fitting TF-IDF and the SVD basis on all of a 200k-row table's texts held about 900 MB at
    once. Past FIT_SAMPLE texts the basis comes from a fixed sample, and the texts are projected in chunks,
    which give what one projection of them all gives; up to FIT_SAMPLE nothing changes."""
    from engine import evidence
    from engine.evidence import _normalise

    texts, _ = corpus(40)  # 120 texts
    small = HashedEmbedder(dims=8)
    whole = small.embed(texts)  # fitted on all 120
    monkeypatch.setattr(evidence, "FIT_SAMPLE", 50)
    sampled = HashedEmbedder(dims=8)
    chunked = sampled.embed(texts)
    assert chunked.shape == whole.shape == (120, 8)
    assert not np.allclose(chunked, whole)  # another basis: fitted on 50 of them
    at_once = _normalise(np.asarray(sampled._tfidf(sampled._counts(texts)) @ sampled.basis))
    assert np.allclose(chunked, at_once)
    again = HashedEmbedder(dims=8).embed(texts)
    assert np.array_equal(chunked, again)  # a fixed sample: the same clusters run after run
