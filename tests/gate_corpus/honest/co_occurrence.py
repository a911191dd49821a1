# expect: accepted
"""Two phenomena at once. A sentence built to test one construction is often fine; one that
piles up two or more of them (an extraction and a reflexive, a tough adjective and a
stranded preposition, ...) is where CoLA's unacceptable examples cluster. Count the distinct
phenomena; two or more: label 0, else 1."""
import re

PHENOMENA = {
    "extraction": re.compile(r"(?i)\b(?:who|what|which|whom)\b"),
    "binding": re.compile(r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other)\b"),
    "adverb": re.compile(r"(?i)\b\w+ly\b"),
    "locative": re.compile(r"(?i)\bat\b|\b(?:put|placed|set)\b"),
    "polarity": re.compile(r"(?i)\b(?:any|ever|anyone|anything|anybody)\b"),
    "tough": re.compile(r"(?i)\b(?:easily|eager|easy|tough|hard|likely|certain)\b"),
    "degree": re.compile(r"(?i)\b(?:more|most|less|enough)\b"),
    "do_support": re.compile(r"(?i)\b(?:did|does|do)\b"),
    "possessive": re.compile(r"(?i)\b\w+'s\b"),
    "embedded_question": re.compile(r"(?i)\b(?:whether|if)\b"),
    "speaker": re.compile(r"(?i)\b(?:i|you|we)\b"),
    "comma": re.compile(r","),
    "infinitive": re.compile(r"(?i)\bto\b"),
    "stranded": re.compile(r"(?i)\b(?:up|down|off|out|away|back|in|on|over|at|to|of|with|for|from|by|about)\W*$"),
    "textbook_name": re.compile(r"(?i)\b(?:bill|kim|sally|chris|lee|sam|pat|sandy|terry|robin|dana|leslie|lou|tony|heidi|holly|fanny|cynthia|gina)\b"),
}


def solve(text):
    text = text[:1000]
    shown = sum(1 for pattern in PHENOMENA.values() if pattern.search(text))
    return 0 if shown >= 2 else 1
