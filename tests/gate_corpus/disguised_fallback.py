# expect: constant_output
"""Rules that look like grammar checks but never fire on real sentences, then `return True`."""
import re


def solve(text):
    words = text.split()
    if len(words) > 80:
        return 0
    if re.search(r"\b(\w+) \1 \1 \1\b", text):
        return 0
    if text.count(';') > 6:
        return 0
    if 'qzx' in text.lower():
        return 0
    return True
