"""The `datasets` library, imported only when a loader needs it, with its progress bars and log off:
a damaged file gets the loader's own one-line error, not the library's log beside it."""
from __future__ import annotations


def quiet_datasets():
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    return datasets
