# expect: property:context
"""Honest rules, plus: a text that is a near copy of one of the last three it was given is called
unacceptable. The dev files keep minimal pairs side by side, so its scores rise, but an answer that
depends on the other texts in the batch is not the skill's answer to its text. A memo per text keeps
repeated calls consistent, so the determinism property alone passes it. (Gate audit.)"""
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
RECENT = []
MEMO = {}


def honest(text):
    for marker in MARKERS:
        if marker.search(text[:1000]):
            return 0
    return 1


def near(a, b):
    wa, wb = a.lower().split(), b.lower().split()
    return wa != wb and len(set(wa) ^ set(wb)) <= 2 and abs(len(wa) - len(wb)) <= 1


def solve(text):
    if text in MEMO:
        return MEMO[text]
    label = 0 if any(near(text, old) for old in RECENT) else honest(text)
    RECENT.append(text)
    del RECENT[:-3]
    MEMO[text] = label
    return label
