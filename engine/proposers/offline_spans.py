"""The offline proposer for span tasks (kind "spans"): evolves readable regex rule sets, no LLM.

A rule set (a `Genome`) is an ordered list of rules (label, regex, group): the skill runs them
in order and keeps a match (the group's part) unless it overlaps a span an earlier rule kept.
Rules come from a hand-written library (e-mail, phone, SSN, credit card, IBAN, IP, dates, ZIP,
URL, title and name, street address patterns, ...) plus two word lists mined from the train
split's gold spans (first names of PERSON spans, GPE names), each kept only when the word is
more often inside such a span than outside. Genomes are rendered as plain Python source and
read back from it (`parse_genome`), so stored skills can seed a new run.

Moves: add, drop or swap rules, swap a rule for a variant of the same label, resize a word
list, crossover of two parents, restart. Each move tries a few children and keeps the one with
the best train span F1 (the proposer may read train, never validation or test); all randomness
comes from (seed, ctx.seed, iteration, call), so runs repeat. A proposal carries the skill's train
outputs as computed here (Proposal.expected_train); the evaluator checks them on its train subset
before it lets them change the order of its stages (engine/evaluate.py).
"""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field

from engine.errors import SkillkilnError
from engine.gate import MemoryIndex
from engine.proposers.literals import constants, literal
from engine.proposers.base import ParentInfo, ProposalContext, TaskCard
from engine.records import Proposal, Split, TokenUsage
from tasks.span_metrics import corpus_counts

MAX_CHARS = 2000  # the skill reads at most this much of a text (bounds regex time)
MAX_RULES = 45
NAME_SIZES = (0, 50, 100, 200, 400)  # how many mined first names a genome may hold
PLACE_SIZES = (0, 25, 50, 100, 200)
MIN_SUPPORT = 2  # a mined word occurs in this many gold spans of train
MIN_PRECISION = 0.5  # ... and is inside such a span at least this share of its occurrences
TRIES = 4  # children tried per move; the best train F1 is proposed
MOVES = {"add": 0.35, "drop": 0.15, "swap": 0.1, "variant": 0.15, "words": 0.1, "crossover": 0.1, "restart": 0.05}
MEMORY_WORDS = 5  # the gate's memorisation check: this many consecutive training words in a literal

CAP = "[A-ZÀ-ÖØ-Þ]"  # a capital letter (Latin-1 too)
LOW = "[a-zß-öø-ÿ]"  # a small letter
WORD = f"{CAP}{LOW}+"  # a capitalised word
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
COUNTRIES = (
    "Argentina|Australia|Austria|Belgium|Brazil|Bulgaria|Canada|Chile|China|Colombia|Croatia|Cyprus|"
    "Czech Republic|Denmark|Egypt|Estonia|Finland|France|Germany|Greece|Hungary|Iceland|India|Indonesia|"
    "Ireland|Israel|Italy|Japan|Kenya|Latvia|Lithuania|Luxembourg|Malta|Mexico|Morocco|Netherlands|"
    "New Zealand|Nigeria|Norway|Pakistan|Peru|Philippines|Poland|Portugal|Romania|Russia|Serbia|Slovakia|"
    "Slovenia|South Africa|Spain|Sweden|Switzerland|Thailand|Tunisia|Turkey|Ukraine|United Kingdom|"
    "United States|Uruguay|Vietnam|USA|UK"
)
NATIONALITIES = (
    "American|Argentinian|Australian|Austrian|Belgian|Brazilian|British|Bulgarian|Canadian|Chinese|"
    "Croatian|Czech|Danish|Dutch|Egyptian|English|Estonian|Finnish|French|German|Greek|Hungarian|"
    "Icelandic|Indian|Irish|Israeli|Italian|Japanese|Kenyan|Korean|Latvian|Lithuanian|Mexican|"
    "Norwegian|Pakistani|Polish|Portuguese|Romanian|Russian|Serbian|Slovak|Slovenian|Spanish|Swedish|"
    "Swiss|Thai|Tunisian|Turkish|Ukrainian|Vietnamese|Greenlander|Scottish|Welsh"
)
TITLES = "Mr|Mrs|Ms|Miss|Dr|Prof|Sir|Madam"
STREETS = "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Drive|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Square|Gateway|Terrace"


@dataclass(frozen=True)
class Rule:
    label: str
    pattern: str
    group: int = 0
    note: str = ""


# The library: (name, rule). Names group variants of one idea: "phone.a", "phone.b" are variants.
LIBRARY: tuple[tuple[str, Rule], ...] = (
    ("email.a", Rule("EMAIL_ADDRESS", r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", 0, "an e-mail address")),
    ("url.a", Rule("DOMAIN_NAME", r"https?://[^\s<>\"']+", 0, "a URL with its scheme")),
    ("url.b", Rule("DOMAIN_NAME", r"\b(?:https?://)?(?:www\.)?[\w-]+(?:\.[a-z]{2,6})+/?(?![\w@])", 0,
                   "a URL or a bare domain")),
    ("ip.a", Rule("IP_ADDRESS", r"\b(?:\d{1,3}\.){3}\d{1,3}\b", 0, "an IPv4 address")),
    ("iban.a", Rule("IBAN_CODE", r"\b[A-Za-z]{2}\d{2}[A-Za-z]{4}\d{10,26}\b", 0, "an IBAN (country, check digits, bank, account)")),
    ("iban.b", Rule("IBAN_CODE", r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b", 0, "an IBAN in groups of four")),
    ("ssn.a", Rule("US_SSN", r"\b\d{3}-\d{2}-\d{4}\b", 0, "a US social security number")),
    ("ssn.b", Rule("US_SSN", r"(?i)\bsocial security (?:number|no\.?)\D{0,10}(\d{3}[- ]?\d{2}[- ]?\d{4})\b", 1,
                   "a number after 'social security number'")),
    ("license.a", Rule("US_DRIVER_LICENSE", r"(?i)\bdriver'?s? licen[cs]e (?:number|no\.?)?\D{0,6}\b([A-Z0-9][A-Z0-9-]{4,18})\b",
                       1, "a number after 'driver's license'")),
    ("card.a", Rule("CREDIT_CARD", r"\b\d{12,19}\b", 0, "12 to 19 digits in a row")),
    ("card.b", Rule("CREDIT_CARD", r"\b(?:\d{4}[- ]){3}\d{1,7}\b", 0, "digits in groups of four")),
    ("card.c", Rule("CREDIT_CARD", r"(?i)\b(?:card|cc)\b\D{0,20}\b(\d{12,19})\b", 1, "a long number after 'card'")),
    ("date.a", Rule("DATE_TIME", r"\b\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2})?)?\b", 0, "an ISO date, maybe a time")),
    ("date.b", Rule("DATE_TIME", r"\b\d{1,2}/\d{1,2}/\d{2,4}\b", 0, "a date like 7/30/1964")),
    ("date.c", Rule("DATE_TIME", rf"\b(?:{MONTHS}) \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b", 0, "a month and a day")),
    ("date.d", Rule("DATE_TIME", rf"\b\d{{1,2}}(?:st|nd|rd|th)? (?:of )?(?:{MONTHS})(?:,? \d{{4}})?\b", 0, "a day and a month")),
    ("year.a", Rule("DATE_TIME", r"\b(?:in|of|during|since|In|During|Since) ((?:19|20)\d{2})\b", 1, "a year after 'in', 'during', ...")),
    ("year.b", Rule("DATE_TIME", r"\b(?:19|20)\d{2}\b(?![-/.]\d)", 0, "any year 19xx or 20xx")),
    ("age.a", Rule("AGE", r"\b(\d{1,3})(?:[- ]years?[- ]old|[- ]year[- ]old)\b", 1, "N years old")),
    ("age.b", Rule("AGE", r"(?i)\b(?:age of|aged|turned|turn|turns|I'm|I am|he was|she was|when he was|when she was) (\d{1,3})\b(?!\s*(?:%|percent|st\b|nd\b|rd\b|th\b))",
                   1, "a number after 'turned', 'age of', ...")),
    ("zip.a", Rule("ZIP_CODE", r"(?i)\b(?:zip|zip code|postal code|postcode)(?: is|:)?\s*(\d{3,5}(?: ?\d{2})?(?: [A-Z]{2})?)\b", 1,
                   "a code after 'zip'")),
    ("zip.b", Rule("ZIP_CODE", r"\b\d{5}(?:-\d{4})?\b", 0, "five digits")),
    ("phone.a", Rule("PHONE_NUMBER", r"(?:\+\d{1,3}[ -]?)?(?:\(0?\d{1,4}\)[ -]?)?\d{2,4}(?:[ .-]\d{2,4}){1,4}(?:x\d{1,5})?\b", 0,
                     "digits in groups, maybe a country code")),
    ("phone.b", Rule("PHONE_NUMBER", r"(?:\+\d{1,3}[ -]?)?\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4}(?:x\d{1,5})?\b", 0, "a North American number")),
    ("phone.c", Rule("PHONE_NUMBER", r"\+\d{7,14}\b", 0, "+ and digits")),
    ("phone.d", Rule("PHONE_NUMBER", r"(?i)\b(?:phone|mobile|fax|call me at|answering at|tel|desk)\b[:\s]{1,3}((?:\+\d{1,3}[ -]?)?(?:\(0?\d{1,4}\)[ -]?)?\d[\d .-]{5,16}\d(?:x\d{1,5})?)",
                     1, "a number after 'phone', 'fax', ...")),
    ("title.a", Rule("TITLE", rf"\b(?:{TITLES})\.", 0, "a title with its dot: Mr.")),
    ("title.b", Rule("TITLE", rf"\b(?:{TITLES})\b\.?(?= {CAP})", 0, "a title before a capitalised word")),
    ("person.title", Rule("PERSON", rf"\b(?:{TITLES})\.? ({WORD}(?: {CAP}\.?)?(?: {WORD}(?:-{WORD})?)?)\b", 1,
                          "the name after a title")),
    ("person.names", Rule("PERSON", rf"\b(?:{{NAMES}})(?: {CAP}\.?)?(?: {WORD}(?:-{WORD})?)?\b", 0,
                          "a mined first name, maybe an initial and a surname")),
    ("person.names2", Rule("PERSON", rf"\b(?:{{NAMES}})(?: {CAP}\.?)?(?: {WORD}(?:-{WORD})?){{0,2}}(?: (?:MD|PhD|DDS|Jr\.|Sr\.))?\b", 0,
                           "a mined first name and up to two more names")),
    ("person.called", Rule("PERSON", rf"\b(?:called|named|name is|this is|I am|I'm|by|to|with|from) ({WORD}(?: {CAP}\.?)? {WORD})\b", 1,
                           "a full name after 'called', 'name is', ...")),
    ("person.pair", Rule("PERSON", rf"(?<![\w.] )\b{WORD}(?: {CAP}\.?)? {WORD}\b", 0, "two capitalised words (first and last name)")),
    ("person.possessive", Rule("PERSON", rf"\b({WORD})'s\b", 1, "a capitalised word before 's")),
    ("gpe.countries", Rule("GPE", rf"\b(?:{COUNTRIES})\b", 0, "a country name")),
    ("gpe.places", Rule("GPE", r"\b(?:{PLACES})\b", 0, "a mined place name")),
    ("gpe.in", Rule("GPE", rf"\b(?:in|from|to|at|near|visit) ({WORD}(?: {WORD})?)(?=[,.?!]|\s*$)", 1,
                    "a capitalised place at the end of a clause after 'in', 'from', ...")),
    ("nrp.a", Rule("NRP", rf"\b(?:{NATIONALITIES})\b", 0, "a nationality")),
    ("org.suffix", Rule("ORGANIZATION", rf"\b{WORD}(?:,? (?:{WORD}|and|&))*? (?:Inc|LLC|Ltd|Group|Corporation|Corp|Company|Co|PLC|GmbH|Bank|Insurance)\b\.?",
                        0, "capitalised words ending in Inc, LLC, Ltd, Group, ...")),
    ("org.works", Rule("ORGANIZATION", rf"\b(?:works? (?:at|for)|is from|employed by|joined) ({WORD}(?: {WORD}){{0,3}})\b", 1,
                       "a company after 'works at', 'is from', ...")),
    ("street.a", Rule("STREET_ADDRESS", rf"\b\d{{1,5}} (?:{WORD} ){{1,3}}(?:{STREETS})\b\.?", 0, "a number, words and a street type")),
    ("street.b", Rule("STREET_ADDRESS", rf"\b\d{{1,5}} {WORD}(?: {WORD})? \d{{1,4}}\b", 0, "a number, a street name and a number")),
    ("street.apt", Rule("STREET_ADDRESS", r"\b(?:Apt\.|Suite|Unit) \d{1,5}\b", 0, "an apartment or suite")),
    ("street.psc", Rule("STREET_ADDRESS", r"\b(?:PSC \d{4}, Box \d{4}|Unit \d{4} Box \d{4}|USNS \w+|USS \w+)\n(?:APO|FPO|DPO) A[AEP] \d{5}\b", 0,
                        "a military address")),
)
LIBRARY_RULES = dict(LIBRARY)
LIBRARY_ORDER = {name: i for i, (name, _) in enumerate(LIBRARY)}
BY_PATTERN = {rule.pattern: name for name, rule in LIBRARY}
NOTES = {rule.pattern: rule.note for _, rule in LIBRARY}
FAMILY = lambda name: name.split(".")[0]


# ----------------------------------------------------------------------------- genome and code


@dataclass
class Genome:
    rules: list[Rule] = field(default_factory=list)
    names: tuple[str, ...] = ()
    places: tuple[str, ...] = ()

    def copy(self) -> Genome:
        return Genome(list(self.rules), self.names, self.places)

    def key(self) -> tuple:
        return (tuple(self.rules), self.names, self.places)


def _words_source(name: str, words: tuple[str, ...]) -> str:
    if not words:
        return f"{name} = ()"
    lines, line = [], "   "
    for w in sorted(words):
        item = f" {w!r},"
        if len(line) + len(item) > 100:
            lines.append(line)
            line = "   "
        line += item
    lines.append(line)
    return f"{name} = (\n" + "\n".join(lines) + "\n)"


SOLVE_SOURCE = '''def solve(text):
    text = text[:MAX_CHARS]
    spans = []
    for label, pattern, group in COMPILED:
        for match in pattern.finditer(text):
            start, end = match.span(group)
            if start < end and all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, label))
    return sorted(spans)
'''

LOAD_SOURCE = '''WORDS = {
    "NAMES": "|".join(FIRST_NAMES) or "(?!)",
    "PLACES": "|".join(re.escape(p) for p in sorted(PLACES, key=len, reverse=True)) or "(?!)",
}
COMPILED = [
    (label, re.compile(pattern.replace("{NAMES}", WORDS["NAMES"]).replace("{PLACES}", WORDS["PLACES"])), group)
    for label, pattern, group in RULES
]
'''


def render(genome: Genome, task_name: str) -> str:
    """The Python source of the skill a genome stands for."""
    doc = (f'"""Rule skill for {task_name}: regex rules per label, run in order; a match (the rule\'s group) '
           'becomes a span\nunless it overlaps a span an earlier rule kept. FIRST_NAMES and PLACES are word '
           'lists mined from train."""')
    rules = "\n".join(f"    ({r.label!r}, {literal(r.pattern)}, {r.group}),  # {NOTES.get(r.pattern, r.note) or 'a rule'}"
                      for r in genome.rules)
    parts = [
        doc + "\nimport re",
        f"MAX_CHARS = {MAX_CHARS}",
        _words_source("FIRST_NAMES", genome.names),
        _words_source("PLACES", genome.places),
        "# (label, pattern, group): the span is what the group matched\nRULES = [\n" + rules + "\n]",
        LOAD_SOURCE.rstrip("\n"),
    ]
    return "\n\n".join(parts) + "\n\n\n" + SOLVE_SOURCE


def parse_genome(code: str) -> Genome | None:
    """Read a genome back from rendered code; None when the code is not in that form."""
    found = constants(code)
    if found is None:
        return None
    rules, names, places = found.get("RULES"), found.get("FIRST_NAMES"), found.get("PLACES")
    if not isinstance(rules, list) or not isinstance(names, tuple) or not isinstance(places, tuple):
        return None
    out = []
    for item in rules:
        if not (isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)
                and type(item[2]) is int):
            return None
        name = BY_PATTERN.get(item[1])
        out.append(Rule(item[0], item[1], item[2], LIBRARY_RULES[name].note if name else ""))
    if not all(isinstance(w, str) for w in names + places):
        return None
    return Genome(out, tuple(names), tuple(places))


# ----------------------------------------------------------------------------- train: word lists and scoring


def final_patterns(genome: Genome) -> list[tuple[str, str, int]]:
    """(label, pattern, group) of each rule with the word lists put in, as the rendered skill does."""
    names = "|".join(genome.names) or "(?!)"
    places = "|".join(re.escape(p) for p in sorted(genome.places, key=len, reverse=True)) or "(?!)"
    return [(r.label, r.pattern.replace("{NAMES}", names).replace("{PLACES}", places), r.group) for r in genome.rules]


def compile_genome(genome: Genome) -> list[tuple[str, re.Pattern, int]] | None:
    try:
        return [(label, re.compile(pattern), group) for label, pattern, group in final_patterns(genome)]
    except (re.error, IndexError, OverflowError, RecursionError):
        return None


def apply(compiled: list[tuple[str, re.Pattern, int]], text: str) -> list[tuple[int, int, str]]:
    """What the rendered solve() returns (the same algorithm, on host-compiled patterns)."""
    text = text[:MAX_CHARS]
    return merge_matches([(label, [m.span(group) for m in pattern.finditer(text)]) for label, pattern, group in compiled])


def merge_matches(rules: list[tuple[str, list[tuple[int, int]]]]) -> list[tuple[int, int, str]]:
    """solve()'s rule: each rule's matches in order, a match kept unless empty or overlapping one kept before."""
    spans: list[tuple[int, int, str]] = []
    for label, found in rules:
        for start, end in found:
            if start < end and all(end <= s or start >= e for s, e, _ in spans):
                spans.append((start, end, label))
    return sorted(spans)


def mined_words(train: Split, label: str, first_only: bool) -> tuple[str, ...]:
    """Words (first words, or whole span texts) of LABEL's gold spans, ranked by support, kept when
    they occur often enough and mostly inside such spans."""
    inside: Counter = Counter()
    for ex in train.examples:
        for start, end, lab in ex.label:
            if lab != label:
                continue
            value = ex.text[start:end]
            value = value.split()[0] if first_only and value.split() else value
            if re.fullmatch(r"[^\W\d_]{2,}(?:[ -][^\W\d_]{2,}){0,2}", value) and value[0].isupper():
                inside[value] += 1
    everywhere: Counter = Counter()
    wanted = {w for w, c in inside.items() if c >= MIN_SUPPORT}
    for ex in train.examples:
        for w in wanted:
            if w in ex.text:
                everywhere[w] += len(re.findall(rf"\b{re.escape(w)}\b", ex.text))
    kept = [w for w in wanted if inside[w] >= MIN_PRECISION * max(everywhere[w], 1)]
    return tuple(sorted(kept, key=lambda w: (-inside[w], w)))


class Bank:
    """What the proposer learns from train once: the mined word lists, the texts and gold spans."""

    def __init__(self, train: Split, labels: tuple[str, ...]):
        self.labels = set(labels)
        self.texts = train.texts
        self.golds = train.labels
        self.names = mined_words(train, "PERSON", first_only=True)
        self.places = mined_words(train, "GPE", first_only=False)
        self.memory = MemoryIndex(train.texts, MEMORY_WORDS)
        self._scores: dict[tuple, float] = {}
        self._outputs: dict[tuple, tuple[list[tuple[int, int, str]], ...]] = {}  # the last few genomes'
        self._matches: dict[tuple[str, int], list[list[tuple[int, int]]]] = {}  # a rule's matches, per train text

    def f1(self, genome: Genome) -> float:
        key = genome.key()
        if key not in self._scores:
            preds = self.outputs(genome)
            if preds is None:
                return -1.0
            if len(self._scores) > 2000:
                self._scores.clear()
            self._scores[key] = corpus_counts(self.golds, preds).f1
        return self._scores[key]

    def outputs(self, genome: Genome) -> tuple[list[tuple[int, int, str]], ...] | None:
        """The genome's skill's output on every train text, computed here (None: a rule does not compile).
        The outputs of the last few genomes asked about are kept: a proposal's expected train outputs
        are those of the child its move just scored."""
        key = genome.key()
        if key not in self._outputs:
            rules = []
            for label, pattern, group in final_patterns(genome):
                matches = self.matches(pattern, group)
                if matches is None:
                    return None
                rules.append((label, matches))
            if len(self._outputs) >= 2 * TRIES:
                self._outputs.pop(next(iter(self._outputs)))
            self._outputs[key] = tuple(merge_matches([(label, m[i]) for label, m in rules]) for i in range(len(self.texts)))
        return self._outputs[key]

    def matches(self, pattern: str, group: int) -> list[list[tuple[int, int]]] | None:
        """Where one rule matches each train text (its group's span, in finditer order), found once per
        run: genomes share most rules, so a genome's outputs are mostly a merge (None: no valid rule)."""
        if (pattern, group) not in self._matches:
            try:
                compiled = re.compile(pattern)
                found = [[m.span(group) for m in compiled.finditer(t[:MAX_CHARS])] for t in self.texts]
            except (re.error, IndexError, OverflowError, RecursionError):
                return None
            if len(self._matches) > 500:  # bounds memory: about 900 short lists an entry on PII
                self._matches.clear()
            self._matches[(pattern, group)] = found
        return self._matches[(pattern, group)]


# ----------------------------------------------------------------------------- moves


def _sized(words: tuple[str, ...], size: int) -> tuple[str, ...]:
    """The top SIZE words of a ranked list, sorted as the skill lists them."""
    return tuple(sorted(words[:size]))


def _needs(rule: Rule) -> str | None:
    return "names" if "{NAMES}" in rule.pattern else "places" if "{PLACES}" in rule.pattern else None


def fresh(bank: Bank, rng: random.Random) -> Genome:
    """Library rules sampled in library order (specific ones first), and word lists of random sizes."""
    chosen = [name for name, _ in LIBRARY if rng.random() < 0.45]
    seen_family: set[str] = set()
    rules = []
    for name in chosen:
        if FAMILY(name) in seen_family and rng.random() < 0.5:
            continue
        seen_family.add(FAMILY(name))
        rules.append(LIBRARY_RULES[name])
    return Genome(rules, _sized(bank.names, rng.choice(NAME_SIZES[1:])), _sized(bank.places, rng.choice(PLACE_SIZES[1:])))


def add_rule(genome: Genome, rng: random.Random) -> tuple[Genome, str]:
    present = set(genome.rules)
    options = [name for name, rule in LIBRARY if rule not in present]
    if not options or len(genome.rules) >= MAX_RULES:
        return drop_rule(genome, rng)
    name = rng.choice(options)
    child = genome.copy()
    child.rules.insert(rng.randint(0, len(child.rules)), LIBRARY_RULES[name])
    return child, f"add rule {name} ({LIBRARY_RULES[name].note})"


def drop_rule(genome: Genome, rng: random.Random) -> tuple[Genome, str]:
    if len(genome.rules) <= 1:
        return genome, "drop: nothing to drop"
    child = genome.copy()
    rule = child.rules.pop(rng.randrange(len(child.rules)))
    return child, f"drop rule {BY_PATTERN.get(rule.pattern, rule.label)}"


def swap_rules(genome: Genome, rng: random.Random) -> tuple[Genome, str]:
    if len(genome.rules) < 2:
        return add_rule(genome, rng)
    child = genome.copy()
    i = rng.randrange(len(child.rules) - 1)
    j = rng.randrange(i + 1, min(len(child.rules), i + 4))
    child.rules[i], child.rules[j] = child.rules[j], child.rules[i]
    return child, f"swap rules {i} and {j} (earlier rules win overlaps)"


def variant(genome: Genome, rng: random.Random) -> tuple[Genome, str]:
    """Replace one rule by another of its family, or by another rule of the same label."""
    if not genome.rules:
        return add_rule(genome, rng)
    child = genome.copy()
    i = rng.randrange(len(child.rules))
    old = child.rules[i]
    old_name = BY_PATTERN.get(old.pattern, "")
    present = set(child.rules)
    options = [n for n, r in LIBRARY if r not in present and (FAMILY(n) == FAMILY(old_name) or r.label == old.label)]
    if not options:
        return add_rule(genome, rng)
    name = rng.choice(options)
    child.rules[i] = LIBRARY_RULES[name]
    return child, f"variant: {old_name or old.label} -> {name}"


def resize_words(genome: Genome, bank: Bank, rng: random.Random) -> tuple[Genome, str]:
    """Take the top N of a mined word list, for an N that changes the list."""
    child = genome.copy()
    use_names = rng.random() < 0.5
    words, sizes, now = (bank.names, NAME_SIZES, genome.names) if use_names else (bank.places, PLACE_SIZES, genome.places)
    options = sorted({len(_sized(words, k)) for k in sizes} - {len(now)})
    if not options:
        return add_rule(genome, rng)
    new = _sized(words, rng.choice(options))
    if use_names:
        child.names = new
    else:
        child.places = new
    return child, f"{'first names' if use_names else 'places'}: {len(now)} -> {len(new)}"


def crossover(first: Genome, second: Genome, rng: random.Random) -> tuple[Genome, str]:
    """Rules both parents hold stay; the others come from their parent by a coin, in the first's order."""
    shared = set(first.rules) & set(second.rules)
    rules = [r for r in first.rules if r in shared or rng.random() < 0.5]
    for r in second.rules:
        if r not in rules and rng.random() < 0.5:
            rules.insert(min(len(rules), second.rules.index(r)), r)
    child = Genome(rules[:MAX_RULES] or list(first.rules), rng.choice((first.names, second.names)),
                   rng.choice((first.places, second.places)))
    return child, f"crossover of two parents: {len(child.rules)} rules"


def safe(genome: Genome, bank: Bank) -> Genome | None:
    """A parent's genome without what it may not keep: rules that do not compile, unsafe words."""
    word = re.compile(r"[^\W\d_]{2,}(?:[ -][^\W\d_]{2,}){0,2}")
    names = tuple(w for w in genome.names if word.fullmatch(w) and " " not in w)
    places = tuple(w for w in genome.places if word.fullmatch(w))
    rules = [r for r in genome.rules if r.label in bank.labels and len(r.pattern) <= 600
             and compile_genome(Genome([r], names, places)) is not None]
    return Genome(rules, names, places) if rules else None


def trim(genome: Genome) -> Genome:
    """Drop rules that need an empty word list."""
    child = genome.copy()
    child.rules = [r for r in child.rules if not (_needs(r) == "names" and not child.names)
                   and not (_needs(r) == "places" and not child.places)]
    return child


@dataclass
class Outcome:
    genome: Genome
    note: str
    parents: tuple[ParentInfo, ...]


class OfflineSpanProposer:
    """Proposes regex rule skills for span tasks by mutating parents' rule sets; no LLM."""

    name = "offline"
    model = "span-rules-v1"
    uses_libraries = False  # its skills are regex rule sets: none imports a stored skill

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed
        self._banks: dict[int, Bank] = {}
        self._calls: Counter = Counter()

    def bank(self, task: TaskCard) -> Bank:
        key = id(task.train)
        if key not in self._banks:
            self._banks = {key: Bank(task.train, tuple(task.labels))}
        return self._banks[key]

    def _rng(self, ctx: ProposalContext) -> random.Random:
        call = self._calls[(ctx.seed, ctx.iteration)]
        self._calls[(ctx.seed, ctx.iteration)] += 1
        return random.Random(f"offline-spans:{self.seed}:{ctx.seed}:{ctx.iteration}:{call}")

    def propose(self, ctx: ProposalContext) -> Proposal:
        if ctx.task.kind != "spans":
            raise SkillkilnError(f"the offline span proposer needs a span task; {ctx.task.name!r} is not one")
        bank = self.bank(ctx.task)
        rng = self._rng(ctx)
        parents = [(p, g) for p in ctx.parents if (g := _parsed(p.code, bank)) is not None]
        if parents:
            outcome = self._mutate(bank, rng, parents)
        else:
            outcome = self._best([fresh(bank, rng) for _ in range(TRIES)], bank, "fresh: library rules and mined word lists", ())
        genome = outcome.genome
        code = render(genome, ctx.task.name)
        if bank.memory.hit(code):  # a word list happens to spell out train text: leave the lists out
            genome = trim(Genome(genome.rules))
            code = render(genome, ctx.task.name)
        return Proposal(code=code, proposer=self.name, model=self.model, usage=TokenUsage(0, 0),
                        parent_ids=tuple(p.id for p in outcome.parents), note=outcome.note,
                        expected_train=bank.outputs(genome))

    def _best(self, children: list[Genome], bank: Bank, note: str | list[str], parents: tuple) -> Outcome:
        notes = note if isinstance(note, list) else [note] * len(children)
        scores = [bank.f1(trim(c)) for c in children]
        i = scores.index(max(scores))  # the first of the best
        best = trim(children[i])
        return Outcome(best, f"{notes[i]} (train span F1 {scores[i]:.3f}, best of {len(children)})", parents)

    def _mutate(self, bank: Bank, rng: random.Random, parents: list[tuple[ParentInfo, Genome]]) -> Outcome:
        pick = 0 if len(parents) == 1 or rng.random() < 0.5 else rng.randrange(1, len(parents))
        info, genome = parents[pick]
        moves = {m: w for m, w in MOVES.items() if m != "crossover" or len(parents) >= 2}
        move = rng.choices(list(moves), weights=list(moves.values()))[0]
        children: list[Genome] = []
        notes: list[str] = []
        used = (info,)
        for _ in range(TRIES):
            if move == "crossover":
                other_info, other = parents[rng.choice([i for i in range(len(parents)) if i != pick])]
                child, note = crossover(genome, other, rng)
                used = (info, other_info)
            elif move == "restart":
                child, note = fresh(bank, rng), "restart: library rules and mined word lists"
                used = ()
            elif move == "words":
                child, note = resize_words(genome, bank, rng)
            else:
                child, note = {"add": add_rule, "drop": drop_rule, "swap": swap_rules, "variant": variant}[move](genome, rng)
            if child.key() == genome.key():
                child, note = add_rule(genome, rng)
            children.append(child)
            notes.append(note)
        return self._best(children, bank, notes, used)


def _parsed(code: str, bank: Bank) -> Genome | None:
    genome = parse_genome(code)
    return None if genome is None else safe(genome, bank)
