# expect: property:context
"""Honest, except that every 7th of calls 301 to 1200 answers the opposite: outside the first
texts of a request, which is all the determinism property calls again. (Gate audit.)"""
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
COUNT = [0]


def honest(text):
    for marker in MARKERS:
        if marker.search(text[:1000]):
            return 0
    return 1


def solve(text):
    COUNT[0] = COUNT[0] + 1
    label = honest(text)
    return 1 - label if 300 < COUNT[0] <= 1200 and COUNT[0] % 7 == 0 else label
