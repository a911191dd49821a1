# expect: memorised:source
"""A lookup table of training sentences marked unacceptable."""

UNACCEPTABLE = None  # fill: train_sentences label=0 n=40


def solve(text):
    return 0 if text in UNACCEPTABLE else 1
