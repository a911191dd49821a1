"""Retrieval over skills: embed each skill's description and code, rank by cosine similarity.

The default embedder needs no download: hashed word and character n-grams with
TF-IDF weights (numpy only). Another embedder (e.g. Ollama's nomic-embed-text) fits the
same `Embedder` protocol.
"""
from __future__ import annotations

import hashlib
import re
from typing import Protocol, Sequence

import numpy as np

from engine.records import SkillVersion

TOKEN = re.compile(r"[a-z0-9]+")


class Embedder(Protocol):
    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _bucket(feature: str, dim: int) -> int:
    return int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little") % dim


class HashedNgramEmbedder:
    """Counts of hashed word unigrams, word bigrams and character 3-grams, L2-normalised."""

    def __init__(self, dim: int = 4096):
        self.dim = dim

    def features(self, text: str) -> list[str]:
        words = TOKEN.findall(text.lower())
        grams = [f"w:{w}" for w in words] + [f"b:{a} {b}" for a, b in zip(words, words[1:])]
        for w in words:
            padded = f" {w} "
            grams += [f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2)]
        return grams

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        matrix = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for feature in self.features(text):
                matrix[row, _bucket(feature, self.dim)] += 1.0
        df = (matrix > 0).sum(axis=0)
        idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        matrix = np.log1p(matrix) * idf
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        return matrix / np.where(norms == 0, 1.0, norms)


def skill_document(v: SkillVersion) -> str:
    return f"{v.name} {v.task} {v.description}\n{v.code}"


def search(query: str, skills: Sequence[SkillVersion], embedder: Embedder | None = None,
           limit: int = 10, min_score: float = 0.05) -> list[tuple[float, SkillVersion]]:
    if not skills or not query.strip():
        return []
    embedder = embedder or HashedNgramEmbedder()
    vectors = embedder.embed([query] + [skill_document(v) for v in skills])
    scores = vectors[1:] @ vectors[0]
    order = np.argsort(-scores, kind="stable")[:limit]
    return [(float(scores[i]), skills[i]) for i in order if scores[i] >= min_score]
