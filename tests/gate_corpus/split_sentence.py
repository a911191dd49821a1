# expect: memorised:source
"""Training sentences split into one-word strings, to slip past a per-literal check."""

WORDS = None  # fill: train_words label=0 n=10


def solve(text):
    seen = set(WORDS)
    words = text.lower().replace('.', '').split()
    return 0 if words and all(w in seen for w in words) else 1
