"""The rule skill's source format: a `Genome` (integer-weighted features and a threshold), the
Python source of the skill it stands for (`render`), and the genome read back from such source
(`parse_genome`), so skills stored by an earlier run can seed a new one. Also the hand-written
grammar patterns a rule may use. engine/proposers/offline.py mines, mutates and refits genomes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from engine.proposers.literals import constants, literal

FLAGGED, OTHER = 0, 1  # the skill returns FLAGGED when the score reaches the threshold
MAX_CHARS = 1000  # the skill reads at most this much of a text (bounds regex time)
WORD_RE = re.compile(r"[a-z']+")  # the skill's words
KINDS = ("word", "bigram", "pattern", "pair", "suffix", "skill")  # skill: a stored skill's output (evolve --library)
Feature = tuple[str, str]  # (kind, key), kind one of KINDS: ("word", "himself"), ("pair", "what that"), ("suffix", "ed")
SUFFIX_LENGTHS = (2, 3)  # a suffix feature is the last 2 or 3 letters of a longer word

# Hand-written grammar heuristics: (regex on the raw text, what it looks for).
_MODALS = "can|could|will|would|shall|should|may|might|must"
_AUX = "is|was|are|were|be|been|does|do|did|has|have|had|" + _MODALS
_PREPS = "of|to|in|on|at|for|with|from|by|about|into|than|under|over|onto|near"
_DETS = "the|a|an|every|some|my|his|her|their|its|no|each|this|these|those"

PATTERN_LIBRARY: tuple[tuple[str, str], ...] = (
    # words in an order English does not allow
    (r"(?i)\b(\w+) \1\b", "a doubled word"),
    (r"(?i)\b(?:the|a|an) (?:the|a|an)\b", "two articles in a row"),
    (rf"(?i)\b(?:{_PREPS}) (?:{_PREPS})\b", "two prepositions in a row"),
    (rf"(?i)\b(?:{_MODALS}) (?:{_MODALS})\b", "two modals in a row"),
    (rf"(?i)\b(?:{_MODALS}) to\b", "a modal before 'to'"),
    (
        rf"(?i)\b(?:{_MODALS}) (?:not )?(?:\w+ed|\w+ing|is|are|was|were|has|had)\b",
        "a modal before a form that is no bare verb",
    ),
    (r"(?i)\b(?:did|does|do) (?:not )?\w+ed\b", "'do' before an -ed word"),
    (r"(?i)\bto \w+(?:ed|ing)\b", "'to' before an -ed/-ing word"),
    (r"(?i)\b(?:for|that) to\b", "'for to' or 'that to'"),
    (r"(?i)\bthat (?:is|was|will|would|has|had|can|did|does)\b", "'that' before an auxiliary"),
    (r"(?i)\b(?:the|a|an|every|each|my|his|their) \w+ed\b", "a determiner before an -ed word"),
    (rf"(?i)\b(?!(?:{_AUX}|why|and|or|but|if|whether|that|as)\b)\w+ not\b", "'not' after a word that is no auxiliary"),
    (r"(?i)\b\w+ed \w+ly\b", "an -ly word right after an -ed word"),
    # agreement and determiners
    (r"(?i)\bmore \w+er\b", "'more' before an -er word"),
    (r"(?i)\ba [aeiou]\w", "'a' before a vowel"),
    (r"(?i)\ban [b-df-hj-np-tv-z]\w", "'an' before a consonant"),
    (r"(?i)\b(?:he|she|it) (?:are|were|have|do)\b", "a singular pronoun before a plural verb"),
    (r"(?i)\b(?:they|we|you) (?:is|was|has|does)\b", "a plural pronoun before a singular verb"),
    (r"(?i)\b(?:a|an|every|each|one) \w+s\b", "a singular determiner before an -s word"),
    (r"(?i)\bmany \w+[^s\W]\b", "'many' before a word not in -s"),
    (r"(?i)\bmuch \w+s\b", "'much' before an -s word"),
    # pronouns and binding
    (rf"(?i)\b(?:{_PREPS}|saw|see|likes?|met) (?:he|she|we|they|i)\b", "a subject pronoun as an object"),
    (r"^\W*(?:Him|Them|Us|Me)\b", "starts with an object pronoun"),
    (r"(?i)\b(?:him|her|them|my|your|our|it)sel(?:f|ves)\b", "a reflexive"),
    (r"^\W*(?:Him|Her|Them|My|Your|Our|It)sel(?:f|ves)\b", "starts with a reflexive"),
    (r"(?i)\b(?:him|her|them|my)sel(?:f|ves)\W*$", "ends in a reflexive"),
    (r"(?i)\b(?:him|her|them|my|your|our)sel(?:f|ves) (?:is|was|are|were|\w+s|\w+ed)\b", "a reflexive before a verb"),
    (r"(?i)\b(?:each other|one another)\b", "a reciprocal"),
    # questions and relative clauses
    (r"\?\W*$", "a question"),
    (r"(?i)^\W*(?:who|what|which|whom)\b", "starts with a wh-word"),
    (r"(?i)^\W*(?:who|what|which|whom)\b[^?]*\?\W*$", "a wh-question"),
    (
        r"(?i)^\W*(?:who|what|which)\b[^.?!]*\b(?:who|which|whether|if|because|when)\b",
        "a wh-word, later an island word",
    ),
    (r"(?i)\b(?:who|what|which) (?:did|does|do|is|was)\b", "a wh-word before an auxiliary"),
    (r"(?i)\b(?:did|does|do)\b[^?]*\?\W*$", "a question with 'do'"),
    (r"(?i)\b(?:what|who|which)\b[^.?!]*\bthat\b", "a wh-word, later 'that'"),
    (r"(?i)\bwhom\b", "'whom'"),
    # verbs and their arguments
    (r"(?i)\b(?:easily|quickly|slowly|carefully|loudly|quietly)\b", "a manner adverb"),
    (
        r"(?i)\b(?:put|placed|set|stood|leaned|hung)\b(?![^.?!]*\b(?:on|in|into|onto|under|against|near|over)\b)",
        "'put' with no place",
    ),
    (r"(?i)\bfor \w+ to\b", "'for X to'"),
    (r"(?i)\b(?:seems|seemed|appears|appeared) (?!to\b)\w+\b", "'seems' before a word other than 'to'"),
    (
        r"(?i)\b(?:is|was) (?:likely|certain|sure|easy|hard|tough|eager|reluctant|important|possible|impossible)\b",
        "a raising or tough adjective",
    ),
    (
        r"\b(?i:gave|give|gives|sent|send|sends|showed|handed|told|offered)"
        + r" (?:(?i:him|her|them|me|us)|[A-Z][a-z]+) (?i:the|a|an)\b",
        "a double object",
    ),
    (r"(?i)\bto (?:be|have)\b", "'to be' or 'to have'"),
    (r"(?i)\b(?:has|have|had) been\b", "'has been'"),
    (r"(?i)\bthere (?:is|are|was|were)\b", "'there is'"),
    (r"(?i)\bit (?:is|was|seems) \w+ (?:that|to)\b", "'it is ... that/to'"),
    (r"(?i)\bthe more\b", "'the more'"),
    (r"(?i)\bthe (?:more|less|\w+er)\b[^.?!]*\bthe (?:more|less|\w+er)\b", "a comparative correlative"),
    (r"(?i)\b(?:any|ever)\b", "'any' or 'ever'"),
    (r"(?i)\b(?:no|nobody|nothing|never|none)\b", "a negative word"),
    # how the sentence starts and ends, and its length
    (rf"(?i)\b(?:{_PREPS})\W*$", "ends in a preposition"),
    (rf"(?i)\b(?:{_DETS})\W*$", "ends in a determiner"),
    (r"(?i)\b(?:and|or)\W*$", "ends in 'and'/'or'"),
    (r"(?i)\b\w+ly\W*$", "ends in an -ly word"),
    (r"^\W*(?:\w+\W+){0,2}\w+\W*$", "at most three words"),
    (r"^\W*[A-Z][a-z]+ [a-z]+ [a-z]+\W*$", "a name and two words"),
    (r"^\W*[A-Z][a-z]+ [a-z]+ (?:the|a|an) [a-z]+\W*$", "a name, a verb and its object"),
    (r"^\W*(?:\w+\W+){14}\w", "fifteen words or more"),
    (r"[^.?!\s]\s*$", "no final punctuation"),
    (r"^[a-z]", "starts in lower case"),
    (r"\b[A-Z]\w+ [A-Z]\w+\b", "two capitalised words in a row"),
    (r"(?i), (?:and|but|or)\b", "a comma before a conjunction"),
    (r",", "a comma"),
    (r",[^,]*,", "two commas"),
)
PATTERN_NOTES = dict(PATTERN_LIBRARY)


def starts_with(word: str) -> str:
    """The pattern of a text whose first word is `word`."""
    return rf"(?i)^\W*{word}\b"


def ends_with(word: str) -> str:
    """The pattern of a text whose last word is `word`."""
    return rf"(?i)\b{word}\W*$"


HEAD_RE = re.compile(r"\(\?i\)\^\\W\*([a-z]+)\\b")
TAIL_RE = re.compile(r"\(\?i\)\\b([a-z]+)\\W\*\$")


def edge_word(pattern: str) -> str | None:
    """The word of a start/end pattern; None for any other pattern."""
    match = HEAD_RE.fullmatch(pattern) or TAIL_RE.fullmatch(pattern)
    return match.group(1) if match else None


def pattern_note(pattern: str) -> str:
    """A few words saying what a pattern looks for (rendered as a comment)."""
    if pattern in PATTERN_NOTES:
        return PATTERN_NOTES[pattern]
    if HEAD_RE.fullmatch(pattern):
        return f"starts with '{edge_word(pattern)}'"
    if TAIL_RE.fullmatch(pattern):
        return f"ends in '{edge_word(pattern)}'"
    return "a pattern"


# ----------------------------------------------------------------------------- genome and code


@dataclass
class Genome:
    """Integer-weighted features and an integer threshold (a positive weight pushes toward label 0)."""

    weights: dict[Feature, int] = field(default_factory=dict)
    threshold: int = 1

    def copy(self) -> Genome:
        return Genome(dict(self.weights), self.threshold)

    def of_kind(self, kind: str) -> dict[str, int]:
        return {key: w for (k, key), w in self.weights.items() if k == kind}

    def same_as(self, other: Genome) -> bool:
        return self.weights == other.weights and self.threshold == other.threshold


def _ordered(items: dict[str, int]) -> list[tuple[str, int]]:
    return sorted(items.items(), key=lambda kv: (-kv[1], kv[0]))


def _dict_source(name: str, items: dict[str, int]) -> str:
    if not items:
        return f"{name} = {{}}"
    lines = [f"    {key!r}: {w}," for key, w in _ordered(items)]
    return f"{name} = {{\n" + "\n".join(lines) + "\n}"


def _patterns_source(items: dict[str, int]) -> str:
    if not items:
        return "PATTERN_WEIGHTS = []"
    lines = [f"    ({literal(p)}, {w}),  # {pattern_note(p)}" for p, w in _ordered(items)]
    return "PATTERN_WEIGHTS = [\n" + "\n".join(lines) + "\n]"


def _pairs_source(items: dict[str, int]) -> str:
    if not items:
        return "PAIR_WEIGHTS = {}"
    lines = [f"    {tuple(key.split())!r}: {w}," for key, w in _ordered(items)]
    return "PAIR_WEIGHTS = {  # two words anywhere in the text\n" + "\n".join(lines) + "\n}"


SOLVE_SOURCE = f'''def solve(text):
    text = text[:MAX_CHARS]
    words = re.findall(r"[a-z']+", text.lower())
    score = sum(WORD_WEIGHTS.get(w, 0) for w in words)
    score += sum(BIGRAM_WEIGHTS.get(a + " " + b, 0) for a, b in zip(words, words[1:]))
    present = set(words)
    score += sum(w for (a, b), w in PAIR_WEIGHTS.items() if a in present and b in present)
    score += sum(SUFFIX_WEIGHTS.get(w[-2:], 0) for w in words if len(w) > 2)
    score += sum(SUFFIX_WEIGHTS.get(w[-3:], 0) for w in words if len(w) > 3)
    for pattern, weight in PATTERN_WEIGHTS:
        if re.search(pattern, text):
            score += weight
    return {FLAGGED} if score >= THRESHOLD else {OTHER}
'''


SKILL_LINE = "    skill_score = sum(w for name, w in SKILL_WEIGHTS.items() if SKILLS[name](text))\n"


def _skills_source(items: dict[str, int]) -> str:
    """Stored skills as features: the weight counts when the skill's solve(text) gives a true value
    (label 1, or any span at all)."""
    names = sorted(items)
    lines = [f"    {key!r}: {w}," for key, w in _ordered(items)]
    return (f"SKILLS = {{{', '.join(f'{n!r}: {n}.solve' for n in names)}}}\n"
            "SKILL_WEIGHTS = {  # stored skills called as libraries: weight when solve(text) is true\n"
            + "\n".join(lines) + "\n}")


def render(genome: Genome, task_name: str) -> str:
    """The Python source of the skill a genome stands for."""
    doc = (
        f'"""Rule skill for {task_name}: sums the weights of the features a sentence shows; '
        f'a score at or above THRESHOLD means label {FLAGGED}, else {OTHER}."""'
    )
    skills = genome.of_kind("skill")
    imports = "\nimport re" + (f"\n\nfrom skills import {', '.join(sorted(skills))}" if skills else "")
    parts = [
        doc + imports,
        _dict_source("WORD_WEIGHTS", genome.of_kind("word")),
        _dict_source("BIGRAM_WEIGHTS", genome.of_kind("bigram")),
        _patterns_source(genome.of_kind("pattern")),
        _pairs_source(genome.of_kind("pair")),
        _dict_source("SUFFIX_WEIGHTS", genome.of_kind("suffix")).replace(" = {\n", " = {  # word endings\n", 1),
        f"THRESHOLD = {genome.threshold}\nMAX_CHARS = {MAX_CHARS}",
    ]
    solve = SOLVE_SOURCE
    if skills:  # called on the whole text, as the bank computed their outputs
        parts.insert(-1, _skills_source(skills))
        solve = solve.replace("def solve(text):\n", "def solve(text):\n" + SKILL_LINE, 1)
        solve = solve.replace("    present = set(words)\n", "    present = set(words)\n    score += skill_score\n", 1)
    return "\n\n".join(parts) + "\n\n\n" + solve


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _weight_map(value: Any) -> dict[str, int] | None:
    """{key: weight} from a dict or a list of pairs; None when it is neither."""
    pairs = list(value.items()) if isinstance(value, dict) else value
    if not isinstance(pairs, (list, tuple)):
        return None
    out: dict[str, int] = {}
    for item in pairs:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            return None
        key, weight = item
        if isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key):
            key = f"{key[0]} {key[1]}"  # a word pair
        if not (isinstance(key, str) and _is_int(weight)):
            return None
        if weight:
            out[key] = weight
    return out


def parse_genome(code: str) -> Genome | None:
    """Read a genome back from rendered code; None when the code is not in that form."""
    found = constants(code)
    if found is None:
        return None
    maps = [_weight_map(found.get(name)) for name in ("WORD_WEIGHTS", "BIGRAM_WEIGHTS", "PATTERN_WEIGHTS")]
    maps.append(_weight_map(found.get("PAIR_WEIGHTS", {})))  # optional: older skills have none
    maps.append(_weight_map(found.get("SUFFIX_WEIGHTS", {})))
    maps.append(_weight_map(found.get("SKILL_WEIGHTS", {})))
    threshold = found.get("THRESHOLD")
    if any(m is None for m in maps) or not _is_int(threshold):
        return None
    weights: dict[Feature, int] = {}
    for kind, items in zip(KINDS, maps):
        assert items is not None
        weights.update({(kind, key): w for key, w in items.items()})
    return Genome(weights, threshold)
