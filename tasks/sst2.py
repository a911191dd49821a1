"""SST-2 (GLUE): is a movie-review phrase positive (1) or negative (0)? Headline metric: accuracy.

Local files (`sst2/train.tsv`, `sst2/dev.tsv`: a `sentence<TAB>label` header, lowercased
PTB-tokenised phrases with a space before the tab) or the hub (`nyu-mll/glue`, config `sst2`).
train and validation are carved from train (90/10, stratified, fixed seed); test is the
official dev file. The 67k-phrase train pool is subsampled to TRAIN_POOL phrases so a
candidate costs about what a CoLA candidate costs.
"""
from __future__ import annotations

import random
from pathlib import Path

from engine.errors import SkillkilnError
from engine.records import Example, Split, Task
from tasks.hub import hub_resolvable, quiet_datasets
from tasks.splits import stratified_split

DESCRIPTION = (
    "Decide whether a movie-review phrase (lowercased, tokenised) is positive. "
    "Return 1 for positive, 0 for negative. About 56% of train phrases are positive."
)
SPLIT_SEED = 20130101
TRAIN_POOL = 12_000


def _read(path: Path) -> list[Example]:
    """GLUE's layout: header, then `sentence \\tlabel`; parse from the right, strip the trailing space."""
    examples = []
    number = 1
    try:
        with path.open(encoding="utf-8") as f:
            next(f, None)
            for number, line in enumerate(f, start=2):
                sentence, _, label = line.rstrip("\n").rpartition("\t")
                if sentence:
                    examples.append(Example(sentence.strip(), int(label)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise SkillkilnError(f"{path} line {number} could not be read ({type(exc).__name__}): each line after the "
                             "header must be sentence<TAB>label, label 0 or 1, in UTF-8") from None
    return examples


def _load_local(data_dir: Path) -> tuple[list[Example], list[Example], str]:
    folder = data_dir / "sst2"
    missing = [f for f in ("train.tsv", "dev.tsv") if not (folder / f).is_file()]
    if missing:
        raise SkillkilnError(
            f"SST-2 data not found: {folder} lacks {', '.join(missing)} "
            "(set SKILLKILN_DATA_DIR or --data-dir to a folder holding sst2/*.tsv, or unset both to use the hub)"
        )
    return _read(folder / "train.tsv"), _read(folder / "dev.tsv"), f"local:{folder}"


def _load_hub() -> tuple[list[Example], list[Example], str]:
    datasets = quiet_datasets()
    if not hub_resolvable():
        raise SkillkilnError("SST-2 could not be loaded: the hub is not reachable from here; "
                             "set SKILLKILN_DATA_DIR or pass --data-dir with a folder holding sst2/*.tsv")
    try:
        ds = datasets.load_dataset("nyu-mll/glue", "sst2")
    except Exception as exc:  # noqa: BLE001 - any hub failure means the same to the user
        raise SkillkilnError(f"SST-2 could not be loaded from the hub ({type(exc).__name__}); "
                             "set SKILLKILN_DATA_DIR or pass --data-dir") from None
    rows = lambda split: [Example(str(r["sentence"]).strip(), int(r["label"])) for r in ds[split]]  # noqa: E731
    return rows("train"), rows("validation"), "hub:nyu-mll/glue/sst2"


def load(data_dir: Path | None) -> Task:
    pool, test, source = _load_local(data_dir) if data_dir else _load_hub()
    rng = random.Random(SPLIT_SEED)
    if len(pool) > TRAIN_POOL:
        pool = rng.sample(pool, TRAIN_POOL)
    train, validation = stratified_split(pool, holdout=0.1, seed=SPLIT_SEED)
    return Task(name="sst2", kind="classification", description=DESCRIPTION, labels=(0, 1), train=train,
                validation=validation, test=Split("test", tuple(test)), metric="accuracy", source=source)
