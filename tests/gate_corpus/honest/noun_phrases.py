# expect: accepted
"""Noun phrases and pronouns: reflexives (binding), first and second person pronouns,
possessives, wh-phrases, polarity items and degree words earn points; 'of' phrases,
quantifiers and modals (common in plain sentences) take one away. Two points or more:
label 0 (unacceptable), else 1."""
import re

REFLEXIVE = re.compile(r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other)\b")
TEXTBOOK_NAME = re.compile(r"(?i)\b(?:bill|kim|sally|chris|lee|sam|pat|sandy|terry|robin|dana|leslie|lou|tony|heidi|holly|fanny|cynthia|gina)\b")
SPEAKER = re.compile(r"(?i)\b(?:i|you|we)\b")
POSSESSIVE = re.compile(r"(?i)\b\w+'s\b")
WH_PHRASE = re.compile(r"(?i)\b(?:who|what|which|whom)\b")
POLARITY = re.compile(r"(?i)\b(?:any|ever|anyone|anything|anybody)\b")
DEGREE = re.compile(r"(?i)\b(?:more|most|less|enough)\b")
OF_PHRASE = re.compile(r"(?i)\bof\b")
QUANTIFIER = re.compile(r"(?i)\b(?:both|all|each|every|either|neither)\b")
MODAL = re.compile(r"(?i)\b(?:can|could|will|would|shall|should|may|might|must)\b")


def solve(text):
    text = text[:1000]
    score = 0
    score += 3 if REFLEXIVE.search(text) else 0
    score += 2 if TEXTBOOK_NAME.search(text) else 0
    score += 1 if SPEAKER.search(text) else 0
    score += 1 if POSSESSIVE.search(text) else 0
    score += 2 if WH_PHRASE.search(text) else 0
    score += 2 if POLARITY.search(text) else 0
    score += 2 if DEGREE.search(text) else 0
    score -= 1 if OF_PHRASE.search(text) else 0
    score -= 1 if QUANTIFIER.search(text) else 0
    score -= 1 if MODAL.search(text) else 0
    return 0 if score >= 2 else 1
