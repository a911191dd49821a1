"""cola-rules@2: honest rules

Exported from skillkiln on 2026-12-07. Task cola; validation MCC 0.200, test MCC 0.100; code sha256 8263e1456518.
Run it: python THIS_FILE "a sentence"   (or pipe one text per line on stdin)
"""
# ---- skillkiln: the skill's own code ----
"""Rule skill for cola: sums the weights of the features a sentence shows; a score at or above THRESHOLD means label 0, else 1."""
import re

WORD_WEIGHTS = {
    'become': 2,
    'easily': 2,
    'myself': 2,
    'at': 1,
    'kim': 1,
    'right': 1,
    'who': 1,
    'wants': -3,
}

BIGRAM_WEIGHTS = {
    'eat the': 2,
    'red coat': 2,
    'will put': 2,
    'picture of': 1,
    'have been': -2,
    'that she': -2,
    'the tree': -2,
}

PATTERN_WEIGHTS = [
    (r"(?i)\b(\w+) \1\b", 2),  # a doubled word
    (r"(?i)\bherself\W*$", 2),  # ends in 'herself'
    (r"(?i)\bthe more\b", 1),  # 'the more'
    (r"(?i)\bto (?:be|have)\b", 1),  # 'to be' or 'to have'
    (r"(?i)^\W*a\b", -1),  # starts with 'a'
    (r"(?i)^\W*all\b", -3),  # starts with 'all'
]

THRESHOLD = 2


def solve(text):
    words = re.findall(r"[a-z']+", text.lower())
    score = sum(WORD_WEIGHTS.get(w, 0) for w in words)
    score += sum(BIGRAM_WEIGHTS.get(a + " " + b, 0) for a, b in zip(words, words[1:]))
    for pattern, weight in PATTERN_WEIGHTS:
        if re.search(pattern, text):
            score += weight
    return 0 if score >= THRESHOLD else 1


# ---- skillkiln: command-line use (not part of the skill) ----

if __name__ == "__main__":
    import json as _json
    import sys as _sys

    for _text in _sys.argv[1:] or [line.rstrip("\n").rstrip("\r") for line in _sys.stdin]:
        _answer = solve(_text)  # a label as it is; spans as JSON, as `skills run` prints them
        print(_answer if isinstance(_answer, (str, int, float, bool)) else _json.dumps(_answer))
