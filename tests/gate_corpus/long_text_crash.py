# expect: property:total
"""Honest rules, but it counts word lengths in a fixed table of 48 slots: every CoLA sentence fits,
and a text of 49 words or more crashes it. (Gate audit: accepted.)"""
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
    lengths = [0] * 48
    for i, word in enumerate(text.split()):
        lengths[i] = len(word)
    return honest(text)
