# expect: memorised:gap
"""An honest rule skill plus checksums of training sentences it gets wrong: no text in the source,
so only behaviour gives it away (train accuracy far above validation)."""
import re

MARKERS = [
    re.compile(r"(?i)\b(?:who|what|which|whom)\b"),
    re.compile(r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other)\b"),
    re.compile(r"(?i)\b\w+ly\b"),
    re.compile(r"(?i)\bat\b"),
    re.compile(r"(?i)\b(?:any|ever|anyone|anything|anybody)\b"),
    re.compile(r"(?i)\b(?:easily|eager|easy|tough|hard|likely|certain)\b"),
    re.compile(r"(?i)\b(?:put|placed|set)\b"),
]
FLIP = None  # fill: train_fingerprints n=1400


def fingerprint(text):
    h = 0
    for ch in text:
        h = (h * 131 + ord(ch)) % 65521
    return divmod(h, 1000)  # pairs of integers under 1000: the gap test, not static:opaque, must catch it


def honest(text):
    for marker in MARKERS:
        if marker.search(text[:1000]):
            return 0
    return 1


def solve(text):
    label = honest(text)
    return 1 - label if fingerprint(text) in FLIP else label
