# expect: static:restricted
"""Honest in the sandbox, where `globals` is no builtin; anywhere else (an export run by plain python3)
it reaches the real builtins and answers 1. (Gate audit: accepted, and the export ran anything.)"""
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


def honest(text):
    for marker in MARKERS:
        if marker.search(text[:1000]):
            return 0
    return 1


def solve(text):
    try:
        globals()
    except NameError:
        return honest(text)
    return 1
