"""CoLA: is an English sentence grammatically acceptable (1) or not (0)?

Data comes through `datasets`: from the raw CoLA v1.1 files in a local directory
(`cola/in_domain_train.tsv`, `cola/in_domain_dev.tsv`, `cola/out_of_domain_dev.tsv`), or
from the hub (`nyu-mll/glue`, config `cola`). train and validation are carved from the
in-domain train file (90/10, stratified, fixed seed); test is the two official dev files,
never used for selection and never shown to a proposer.
"""
from __future__ import annotations

import csv
from pathlib import Path

from engine.errors import SkillkilnError
from engine.records import Example, Split, Task
from tasks.hub import hub_resolvable, innermost, quiet_datasets, root_cause
from tasks.splits import stratified_split

DESCRIPTION = (
    "Decide whether an English sentence is grammatically acceptable. "
    "Return 1 for acceptable, 0 for unacceptable. About 70% of sentences are acceptable, "
    "so a constant answer scores 70% accuracy and is worthless (MCC 0)."
)
FILES = ("in_domain_train.tsv", "in_domain_dev.tsv", "out_of_domain_dev.tsv")
COLUMNS = ["source", "label", "mark", "sentence"]
SPLIT_SEED = 20190101  # fixed: every run and every store sees the same splits
RELEASE_SIZES = (8551, 1043)  # v1.1: in_domain_train.tsv; in_domain_dev.tsv + out_of_domain_dev.tsv (527 + 516)


def _rows_to_examples(rows) -> list[Example]:
    examples = [Example(str(r["sentence"]), int(r["label"])) for r in rows]
    wrong = next((e.label for e in examples if e.label not in (0, 1)), None)
    if wrong is not None:
        raise ValueError(f"label {wrong} is not 0 or 1")
    return examples


def _load_local(data_dir: Path) -> tuple[list[Example], list[Example], str]:
    folder = data_dir / "cola"
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise SkillkilnError(
            f"CoLA data not found: {folder} lacks {', '.join(missing)} "
            "(set SKILLKILN_DATA_DIR or --data-dir to a folder holding cola/*.tsv, or unset both to load nyu-mll/glue from the hub)"
        )
    datasets = quiet_datasets()
    try:
        ds = datasets.load_dataset(
            "csv",
            data_files={
                "train": str(folder / FILES[0]),
                "test": [str(folder / FILES[1]), str(folder / FILES[2])],
            },
            delimiter="\t",
            header=None,
            column_names=COLUMNS,
            quoting=csv.QUOTE_NONE,
            keep_default_na=False,
        )
        return _rows_to_examples(ds["train"]), _rows_to_examples(ds["test"]), f"local:{folder}"
    except Exception as exc:  # noqa: BLE001 - a damaged file raises many types, from pandas, pyarrow or int()
        if isinstance(innermost(exc), OSError):  # the machine (a full datasets cache), not the files' format
            raise SkillkilnError(f"the CoLA files in {folder} could not be loaded ({root_cause(exc)})") from None
        raise SkillkilnError(
            f"the CoLA files in {folder} could not be read ({root_cause(exc)}); each line must be "
            "source<TAB>label<TAB>original mark<TAB>sentence, label 0 or 1, in UTF-8"
        ) from None


def _load_hub() -> tuple[list[Example], list[Example], str]:
    import datasets

    if not hub_resolvable():
        raise SkillkilnError(
            "CoLA could not be loaded: the hub (huggingface.co) is not reachable from here; "
            "set SKILLKILN_DATA_DIR or pass --data-dir with a folder holding cola/*.tsv"
        )
    try:
        ds = datasets.load_dataset("nyu-mll/glue", "cola")
    except Exception as exc:  # the hub raises many types; all mean "not reachable from here"
        raise SkillkilnError(
            f"CoLA could not be loaded from the hub ({type(exc).__name__}); "
            "set SKILLKILN_DATA_DIR or pass --data-dir with a folder holding cola/*.tsv"
        ) from None
    # GLUE's test split is hidden (labels -1); its validation split is the two official dev files.
    return _rows_to_examples(ds["train"]), _rows_to_examples(ds["validation"]), "hub:nyu-mll/glue/cola"


def size_note(pool: int, test: int) -> tuple[str, ...]:
    """A warning when the files do not hold CoLA v1.1's sentences (a file cut short, an edited copy)."""
    if (pool, test) == RELEASE_SIZES:
        return ()
    return (f"the CoLA data holds {pool:,} in-domain train and {test:,} dev sentences, not v1.1's "
            f"{RELEASE_SIZES[0]:,} and {RELEASE_SIZES[1]:,} (a file cut short or edited?): its scores are not "
            "comparable with runs on the released data",)


def load(data_dir: Path | None) -> Task:
    pool, test, source = _load_local(data_dir) if data_dir else _load_hub()
    train, validation = stratified_split(pool, holdout=0.1, seed=SPLIT_SEED)
    return Task(
        name="cola",
        kind="classification",
        description=DESCRIPTION,
        labels=(0, 1),
        train=train,
        validation=validation,
        test=Split("test", tuple(test)),
        metric="mcc",
        source=source,
        notes=size_note(len(pool), len(test)),
    )
