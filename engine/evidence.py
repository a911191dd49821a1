"""Evidence: where the current elite fails, as clusters of its misclassified train examples.

Once per iteration the loop calls

    evidence = analyse(train.texts, train.labels, elite.train_predictions, embedder, seed=..., others=...)

and gets an `Evidence`: the elite's errors embedded, clustered by k-means, reported the way the
research log reported its clusters (`stats()`: count, largest, average size, JSON-able for the run
record and the report), with representative examples of the largest *unsolved* clusters
(`representatives(k)`) for a proposer to look at. A cluster is unsolved when no other member of
the population (`others`, their train predictions) gets at least half of it right.

Embedders (`Embedder` protocol: `name`, `embed(texts) -> (n, d) float array, rows L2-normalised`):

- `HashedEmbedder` (the offline default, no download): word unigrams and bigrams and character
  3- and 4-grams within words, hashed (crc32, stable across processes) into 2**16 buckets,
  TF-IDF weighted (sublinear tf, smoothed idf of the first corpus it sees), reduced to 64
  dimensions by a randomized truncated SVD with a fixed seed (numpy; the sparse matrix is
  scipy.sparse, already a dependency of the offline proposer).
- `OllamaEmbedder`: Ollama's /api/embed through the `ollama` SDK (`nomic-embed-text` by default),
  in batches, each text embedded once per embedder.

Both cache: the train texts are embedded once per run (keyed by a digest of the texts), so an
iteration costs only the clustering (k-means on a few hundred to two thousand 64-d rows:
milliseconds to a few tens of milliseconds).

The number of clusters is stated, not searched: k = round(sqrt(n / 2)) for n errors, at least 1,
at most MAX_CLUSTERS (40) and never more than n. K-means++ seeding and Lloyd iterations with a
numpy Generator seeded by `seed`, so the same inputs give the same clusters.
"""
from __future__ import annotations

import hashlib
import math
import re
import time
import zlib
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Protocol

import numpy as np
from scipy import sparse

from engine.errors import SkillkilnError

MAX_CLUSTERS = 40
FIT_SAMPLE = 20_000  # texts the offline embedder's TF-IDF and SVD basis are fitted on, at most
K_RULE = "k = round(sqrt(n/2)) for n misclassified train examples, 1 <= k <= 40"
KMEANS_ITERS = 30
WORD_RE = re.compile(r"(?:[^\W\d_]|')+")  # letters of any script (and apostrophes): [a-z']+ on lower-cased English
TERM_MIN_COUNT = 2  # a cluster's top term occurs in at least this many (and 5%) of its texts


# ----------------------------------------------------------------------------- embedders


class Embedder(Protocol):
    name: str

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _digest(texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8", "surrogatepass"))
        h.update(b"\x00")
    return h.hexdigest()


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def _grams(text: str) -> list[str]:
    words = WORD_RE.findall(text.lower())
    out = [f"w:{w}" for w in words]
    out += [f"b:{a} {b}" for a, b in pairwise(words)]
    for w in words:
        padded = f"<{w}>"
        out += [f"c:{padded[i:i + n]}" for n in (3, 4) for i in range(len(padded) - n + 1)]
    return out


class HashedEmbedder:
    """Hashed word and character n-grams, TF-IDF, randomized truncated SVD; no download."""

    name = "hashed-svd"

    def __init__(self, dims: int = 64, buckets: int = 1 << 16, seed: int = 0, oversample: int = 16,
                 power_iters: int = 2) -> None:
        self.dims, self.buckets, self.seed = dims, buckets, seed
        self.oversample, self.power_iters = oversample, power_iters
        self.idf: np.ndarray | None = None
        self.basis: np.ndarray | None = None  # buckets x dims
        self._cache: dict[str, np.ndarray] = {}

    def _counts(self, texts: Sequence[str]) -> sparse.csr_matrix:
        indptr, indices, data = array("q", [0]), array("i"), array("i")
        bucket: dict[str, int] = {}  # a gram's bucket, computed once per distinct gram (crc32 is stable)
        for text in texts:
            counted = Counter(_grams(text))
            for g, n in counted.items():
                b = bucket.get(g)
                if b is None:
                    b = bucket[g] = zlib.crc32(g.encode("utf-8", "surrogatepass")) % self.buckets
                indices.append(b)
                data.append(n)
            indptr.append(len(indices))
        counts = sparse.csr_matrix((np.frombuffer(data, dtype=np.int32).astype(np.float64),
                                    np.frombuffer(indices, dtype=np.int32), np.frombuffer(indptr, dtype=np.int64)),
                                   shape=(len(texts), self.buckets))
        counts.sum_duplicates()  # two grams of a text may share a bucket: one entry, their counts added
        return counts

    def _tfidf(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        assert self.idf is not None
        x = counts.copy()
        x.data = 1.0 + np.log(x.data)
        x = x.multiply(self.idf[None, :]).tocsr()
        norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        return sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ x

    def fit(self, texts: Sequence[str], counts: sparse.csr_matrix | None = None) -> None:
        counts = self._counts(texts) if counts is None else counts
        df = np.bincount(counts.indices, minlength=self.buckets)
        self.idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        x = self._tfidf(counts)
        rng = np.random.default_rng(self.seed)
        width = min(self.dims + self.oversample, min(x.shape))
        q, _ = np.linalg.qr(x @ rng.standard_normal((x.shape[1], width)))
        for _ in range(self.power_iters):
            q, _ = np.linalg.qr(x @ (x.T @ q))
        _, _, vt = np.linalg.svd(np.asarray((x.T @ q).T), full_matrices=False)
        self.basis = vt[: self.dims].T

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of TEXTS in the basis, fitted on the first texts embedded: on all of them, or on a
        fixed sample of FIT_SAMPLE when there are more (a big table's TF-IDF and SVD over every row cost a
        GB for a 64-dimensional basis a sample gives as well), then projected FIT_SAMPLE texts at a time."""
        key = _digest(texts)
        if key not in self._cache:
            if len(texts) <= FIT_SAMPLE:  # counted once, for the fit and the projection
                counts = self._counts(texts)
                if self.basis is None:
                    self.fit(texts, counts)
                chunks = [counts]
            else:
                if self.basis is None:
                    rows = np.sort(np.random.default_rng(self.seed).choice(len(texts), FIT_SAMPLE, replace=False))
                    self.fit([texts[i] for i in rows])
                chunks = (self._counts(texts[a:a + FIT_SAMPLE]) for a in range(0, len(texts), FIT_SAMPLE))
            assert self.basis is not None
            self._cache[key] = _normalise(np.vstack([np.asarray(self._tfidf(c) @ self.basis) for c in chunks]))
        return self._cache[key]


class OllamaEmbedder:
    """Embeddings from Ollama's /api/embed (the `ollama` SDK's embed call), cached per text."""

    def __init__(self, model: str = "nomic-embed-text", host: str | None = None, batch: int = 128,
                 timeout_s: float = 120.0, retry: Any = None, sleep: Any = time.sleep) -> None:
        import ollama

        from engine.proposers.ollama_provider import checked_host

        self.model, self.batch, self.timeout_s = model, batch, timeout_s
        self.where = checked_host(host)
        self.retry = retry
        self.name = f"ollama:{model}"
        self.client = ollama.Client(host=self.where, timeout=timeout_s)
        self._vectors: dict[str, np.ndarray] = {}
        self._cache: dict[str, np.ndarray] = {}
        self.sleep = sleep

    def _call(self, texts: list[str]) -> list[list[float]]:
        """One batch, with the chat models' retries (429, 5xx, timeouts, a dropped connection)."""
        import httpx
        import ollama

        from engine.proposers.llm import RetryPolicy, transient
        from engine.proposers.ollama_provider import fatal_error

        policy = self.retry or RetryPolicy()
        for attempt in range(policy.attempts):
            try:
                reply = self.client.embed(model=self.model, input=texts)
                break
            except Exception as exc:  # noqa: BLE001 - retried, mapped to one line, or raised as it is
                retry = (isinstance(exc, ollama.ResponseError) and transient(exc.status_code)) or isinstance(
                    exc, (ConnectionError, httpx.TimeoutException, httpx.TransportError))
                if retry and attempt + 1 < policy.attempts:
                    self.sleep(policy.delay(attempt))
                    continue
                fatal = fatal_error(exc, self.where, self.model, self.timeout_s)
                if fatal is None:
                    raise
                raise fatal from None
        vectors = list(reply.embeddings)
        if len(vectors) != len(texts):
            raise SkillkilnError(f"Ollama at {self.where} returned {len(vectors)} embeddings for {len(texts)} texts")
        width = {len(v) for v in vectors} | ({len(next(iter(self._vectors.values())))} if self._vectors else set())
        if len(width) > 1:
            raise SkillkilnError(f"Ollama at {self.where}: malformed response: embeddings of different lengths "
                                 f"({', '.join(str(w) for w in sorted(width))}) from {self.name}")
        try:
            finite = all(np.isfinite(np.asarray(v, dtype=np.float64)).all() for v in vectors)
        except (TypeError, ValueError):
            finite = False
        if not finite:
            raise SkillkilnError(f"Ollama at {self.where}: malformed response: an embedding from {self.name} holds "
                                 "something other than finite numbers (NaN, infinity, text)")
        return vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        key = _digest(texts)
        if key in self._cache:
            return self._cache[key]
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        for start in range(0, len(missing), self.batch):
            chunk = missing[start : start + self.batch]
            for text, vector in zip(chunk, self._call(chunk)):
                self._vectors[text] = np.asarray(vector, dtype=np.float64)
        if not texts:
            return np.zeros((0, 0))
        rows = np.stack([self._vectors[t] for t in texts])
        self._cache[key] = _normalise(rows)
        return self._cache[key]


def make_embedder(spec: str | None = None, host: str | None = None) -> Embedder:
    """`offline` (default) or `ollama` / `ollama:MODEL`."""
    if not spec or spec == "offline":
        return HashedEmbedder()
    if spec == "ollama" or spec.startswith("ollama:"):
        return OllamaEmbedder(spec.partition(":")[2] or "nomic-embed-text", host=host)
    raise SkillkilnError(f"unknown embedder {spec!r}; known: offline, ollama[:MODEL]")


_DEFAULT: HashedEmbedder | None = None


def default_embedder() -> HashedEmbedder:
    """One shared offline embedder per process, so its cache of the train texts is reused."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = HashedEmbedder()
    return _DEFAULT


# ----------------------------------------------------------------------------- clustering


def choose_k(n: int) -> int:
    """The stated rule: round(sqrt(n/2)), at least 1, at most MAX_CLUSTERS, never above n."""
    if n <= 0:
        return 0
    return max(1, min(MAX_CLUSTERS, n, round(math.sqrt(n / 2))))


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = KMEANS_ITERS) -> tuple[np.ndarray, np.ndarray]:
    """Assignments and centroids: k-means++ seeding, Lloyd iterations, empty clusters re-seeded."""
    n = len(x)
    rng = np.random.default_rng(seed)
    centroids = np.empty((k, x.shape[1]))
    centroids[0] = x[rng.integers(n)]
    dist = ((x - centroids[0]) ** 2).sum(axis=1)
    for j in range(1, k):
        total = dist.sum()
        pick = rng.choice(n, p=dist / total) if total > 0 else rng.integers(n)
        centroids[j] = x[pick]
        dist = np.minimum(dist, ((x - centroids[j]) ** 2).sum(axis=1))
    sq = (x**2).sum(axis=1)
    assign = np.full(n, -1)
    for _ in range(iters):
        d = sq[:, None] - 2 * x @ centroids.T + (centroids**2).sum(axis=1)[None, :]
        new = d.argmin(axis=1)
        if np.array_equal(new, assign):
            break
        assign = new
        for j in range(k):
            members = assign == j
            if members.any():
                centroids[j] = x[members].mean(axis=0)
            else:  # re-seed an empty cluster at the point farthest from its centroid
                far = int(d[np.arange(n), assign].argmax())
                centroids[j] = x[far]
    return assign, centroids


# ----------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Cluster:
    id: int
    indices: tuple[int, ...]  # train indices, nearest the centroid first
    labels: dict[Any, int]  # true labels of its examples
    terms: tuple[str, ...]  # words most over-represented in it (relative to all errors)
    solved_share: float | None = None  # the best share of it another population member gets right

    @property
    def size(self) -> int:
        return len(self.indices)

    @property
    def solved(self) -> bool:
        return self.solved_share is not None and self.solved_share >= 0.5


@dataclass(frozen=True)
class Representative:
    index: int  # into the train split
    text: str
    label: Any  # the true label
    prediction: Any  # what the elite said
    cluster: int
    cluster_size: int


@dataclass
class Evidence:
    embedder: str
    n_texts: int
    n_errors: int
    clusters: list[Cluster]  # largest first
    texts: Sequence[str] = field(repr=False, default=())
    labels: Sequence[Any] = field(repr=False, default=())
    predictions: Sequence[Any] = field(repr=False, default=())
    seconds: float = 0.0
    k: int = 0  # clusters asked of k-means (the k rule); `clusters` holds the non-empty ones

    def unsolved(self) -> list[Cluster]:
        """Clusters no other member solves, largest first."""
        return [c for c in self.clusters if not c.solved]

    def stats(self) -> dict[str, Any]:
        """JSON-able summary for the run record and the report."""
        sizes = [c.size for c in self.clusters]
        return {
            "embedder": self.embedder,
            "texts": self.n_texts,
            "errors": self.n_errors,
            "error_share": round(self.n_errors / self.n_texts, 4) if self.n_texts else 0.0,
            "k": self.k,
            "clusters": len(sizes),
            "largest": max(sizes, default=0),
            "average_size": round(sum(sizes) / len(sizes), 1) if sizes else 0.0,
            "unsolved": len(self.unsolved()),
            "k_rule": K_RULE,
            "top": [{"size": c.size, "labels": _label_counts(c.labels), "terms": list(c.terms),
                     "solved_share": c.solved_share} for c in self.clusters[:5]],
            "seconds": round(self.seconds, 3),
        }

    def representatives(self, k: int) -> list[Representative]:
        """k examples from the largest unsolved clusters (then the solved ones), round-robin across
        clusters in size order, each cluster's examples nearest its centroid first."""
        order = self.unsolved() + [c for c in self.clusters if c.solved]
        out: list[Representative] = []
        depth = 0
        while len(out) < k and any(depth < c.size for c in order):
            for c in order:
                if depth < c.size and len(out) < k:
                    i = c.indices[depth]
                    out.append(Representative(i, self.texts[i], self.labels[i], self.predictions[i], c.id, c.size))
            depth += 1
        return out


def _label_counts(labels: dict[Any, int]) -> dict[str, int]:
    """A cluster's true labels for the record: as they are for classification; for span tasks (a label is a
    text's whole tuple of gold spans, nearly one per text) the spans' own labels, '(no spans)' for a text with none."""
    counts: Counter[str] = Counter()
    for label, n in labels.items():
        if isinstance(label, (tuple, list)):
            names = [str(span[2]) for span in label if isinstance(span, (tuple, list)) and len(span) == 3]
            for name in names or ["(no spans)"]:
                counts[name] += n
        else:
            counts[str(label)] += n
    return dict(counts.most_common())


def _terms(texts: Sequence[str], members: np.ndarray, background: Counter, n_background: int) -> tuple[str, ...]:
    counted = Counter(w for i in members for w in set(WORD_RE.findall(texts[i].lower())))
    floor = max(TERM_MIN_COUNT, math.ceil(0.05 * len(members)))
    scored = [  # count times log-lift: frequent in the cluster and rarer among all errors
        (n * math.log((n / len(members)) / ((background[w] + 1) / (n_background + 1))), n, w)
        for w, n in counted.items() if n >= floor
    ]
    return tuple(w for _, _, w in sorted(scored, key=lambda s: (-s[0], -s[1], s[2]))[:5])


def analyse(texts: Sequence[str], labels: Sequence[Any], predictions: Sequence[Any], embedder: Embedder | None = None,
            seed: int = 0, others: Sequence[Sequence[Any]] | None = None, max_clusters: int = MAX_CLUSTERS) -> Evidence:
    """Cluster the examples `predictions` gets wrong (None counts as wrong); see the module doc."""
    started = time.perf_counter()
    if not (len(texts) == len(labels) == len(predictions)):
        raise ValueError("texts, labels and predictions must have the same length")
    embedder = embedder or default_embedder()
    wrong = np.array([p is None or p != y for p, y in zip(predictions, labels)], dtype=bool)
    errors = np.flatnonzero(wrong)
    clusters: list[Cluster] = []
    k = 0
    if len(errors):
        vectors = embedder.embed(texts)[errors]
        k = min(choose_k(len(errors)), max_clusters)
        assign, centroids = kmeans(vectors, k, seed=seed)
        right = [np.array([p is not None and p == y for p, y in zip(o, labels)], dtype=bool)
                 for o in (others or ()) if len(o) == len(labels)]
        background = Counter(w for i in errors for w in set(WORD_RE.findall(texts[i].lower())))
        for j in range(k):
            local = np.flatnonzero(assign == j)
            if not len(local):
                continue
            dist = ((vectors[local] - centroids[j]) ** 2).sum(axis=1)
            members = errors[local[np.lexsort((local, dist))]]
            solved = max((float(r[members].mean()) for r in right), default=None)
            clusters.append(Cluster(
                j, tuple(int(i) for i in members), dict(Counter(labels[i] for i in members).most_common()),
                _terms(texts, members, background, len(errors)), solved,
            ))
        clusters.sort(key=lambda c: (-c.size, c.indices[0]))
        clusters = [Cluster(n, c.indices, c.labels, c.terms, c.solved_share) for n, c in enumerate(clusters)]
    return Evidence(getattr(embedder, "name", type(embedder).__name__), len(texts), len(errors), clusters,
                    texts, labels, predictions, time.perf_counter() - started, k)
