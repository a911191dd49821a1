"""Span skills on long texts, and masking: `skills run` (with or without --mask) of a span skill.

A skill may read only the start of a text: the offline span skills read MAX_CHARS characters (their
regex rules are bounded that way). A longer text is run in pieces of at most that many characters,
cut at a line end, else a sentence end, else a space, each overlapping the one before, and the pieces'
spans are moved back to where they are in the whole text, so nothing past the limit is left unread
(unmasked), nor an entity that a cut splits (one shorter than half the overlap, 100 characters).
"""
from __future__ import annotations

from typing import Any

from engine.proposers.literals import constants

CUTS = ("\n", ". ", "? ", "! ", "; ", ", ", " ")  # where a piece may end, best first
OVERLAP = 200  # characters a piece repeats of the one before it (at most a quarter of the limit)


def read_limit(code: str) -> int | None:
    """How many characters of a text the skill reads, when it says so (a top-level MAX_CHARS)."""
    found = constants(code) or {}
    value = found.get("MAX_CHARS")
    return value if type(value) is int and value > 0 else None


def pieces(text: str, limit: int | None) -> list[tuple[int, str]]:
    """(offset, piece) covering TEXT, each piece at most LIMIT characters, cut where CUTS says. Each piece
    after the first begins OVERLAP characters (a quarter of LIMIT at most) before its cut, so an entity a
    cut splits is whole in one of the two (`joined` keeps each span once): without it a card number cut
    after its first group came out as `card 4111 [PHONE_NUMBER]`, and an e-mail cut mid-word unmasked."""
    if limit is None or len(text) <= limit:
        return [(0, text)]
    back = min(OVERLAP, limit // 4)
    step = limit - back  # a piece is its cut's `back` characters before, then at most `step` new ones
    out, at = [], 0
    while len(text) - at > step:
        window = text[at:at + step]
        end = 0
        for cut in CUTS:  # the last cut of the best kind in the second half of the window
            found = window.rfind(cut, step // 2)
            if found >= 0:
                end = found + len(cut)
                break
        end = end or step
        start = at - back if at else 0
        out.append((start, text[start:at + end]))
        at += end
    out.append((at - back, text[at - back:]))
    return out


def regroup(split: list[list[tuple[int, str]]], predictions: Any,
            errors: dict[int, str]) -> tuple[list[Any], dict[int, str]]:
    """Per text, from the run over every text's pieces (SPLIT: pieces() of each text): its output (its
    pieces' spans joined, when it had several) and its first error, by the text's own index."""
    outputs: list[Any] = []
    failed: dict[int, str] = {}
    at = 0
    for i, parts in enumerate(split):
        found = [errors[j] for j in range(at, at + len(parts)) if j in errors]
        if found:
            failed[i] = found[0]
        mine = list(predictions[at:at + len(parts)])
        outputs.append(mine[0] if len(parts) == 1 else joined(parts, mine))
        at += len(parts)
    return outputs, failed


def joined(parts: list[tuple[int, str]], outputs: list[Any]) -> list[list] | None:
    """One text's spans from its pieces' outputs (None when a piece gave none), each span once, in the
    whole text's offsets. Two pieces share an overlap: a span starting before its middle is the earlier
    piece's, from its middle on the later one's, so each is taken where it has most context around it."""
    spans = []
    for i, ((offset, piece), out) in enumerate(zip(parts, outputs)):
        if out is None:
            return None
        low = (offset + parts[i - 1][0] + len(parts[i - 1][1])) // 2 if i else None  # overlap middles
        high = (parts[i + 1][0] + offset + len(piece)) // 2 if i + 1 < len(parts) else None
        for s in out:
            start = s[0] + offset
            if (low is None or start >= low) and (high is None or start < high):
                spans.append([start, s[1] + offset, s[2]])
    return spans


def mask_text(text: str, spans: Any) -> tuple[str, int]:
    """TEXT with each span replaced by [LABEL] (the ai4privacy form), and how many spans were left out
    as malformed, outside the text or overlapping an earlier one."""
    given = list(spans or [])
    kept: list[tuple[int, int, str]] = []
    for span in sorted(s for s in given if isinstance(s, (list, tuple)) and len(s) == 3
                       and type(s[0]) is int and type(s[1]) is int and isinstance(s[2], str)):
        start, end, label = span
        if 0 <= start < end <= len(text) and (not kept or start >= kept[-1][1]):
            kept.append((start, end, label))
    out, at = [], 0
    for start, end, label in kept:
        out += [text[at:start], f"[{label}]"]
        at = end
    return "".join(out) + text[at:], len(given) - len(kept)
