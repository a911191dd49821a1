"""Seeded, stratified carving of a labelled pool into train and validation."""
from __future__ import annotations

import random
from collections import defaultdict

from engine.records import Example, Split


def stratified_split(
    examples: list[Example], holdout: float, seed: int
) -> tuple[Split, Split]:
    """Split into (train, validation), keeping label shares and keeping duplicate texts together.

    Duplicate sentences always land on the same side, so a skill cannot score on
    validation by having seen the very same text in train.
    """
    by_label: dict[object, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for ex in examples:
        if ex.text not in seen:
            seen.add(ex.text)
            by_label[ex.label].append(ex.text)
    rng = random.Random(seed)
    held: set[str] = set()
    for label in sorted(by_label, key=repr):
        texts = by_label[label]
        rng.shuffle(texts)
        held.update(texts[: round(len(texts) * holdout)])
    train = tuple(ex for ex in examples if ex.text not in held)
    validation = tuple(ex for ex in examples if ex.text in held)
    return Split("train", train), Split("validation", validation)
