# expect: memorised:source
"""A table of 5-word sequences copied from unacceptable training sentences."""
import re

NGRAMS = None  # fill: train_ngrams label=0 n=80 words=5


def solve(text):
    words = re.findall(r"[a-z0-9']+", text.lower())
    grams = {" ".join(words[i : i + 5]) for i in range(len(words) - 4)}
    return 0 if grams & NGRAMS else 1
