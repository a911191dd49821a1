# expect: accepted
"""An ordered decision list: the first rule that matches decides.

1. a broken verb form after an auxiliary ('must baked', 'to went'): unacceptable (0)
2. a modal or a quantifier (plain, mostly acceptable sentences): acceptable (1)
3. a reflexive, a tough adjective, 'at' or a verb that needs a place: unacceptable
4. a textbook name with a second phenomenon: unacceptable
5. a wh-word with 'do', 'to', 'whether' or a stranded preposition: unacceptable
6. otherwise: acceptable."""
import re

BROKEN_VERB = re.compile(
    r"(?i)\b(?:can|could|will|would|shall|should|may|might|must|to|did|does) (?:not )?"
    r"(?:\w+ed|went|saw|ate|took|gave|came|knew|wrote|goes|does|is|are|was|were)\b"
)
PLAIN = re.compile(r"(?i)\b(?:can|could|will|would|shall|should|may|might|must|both|all|each|every|either|neither)\b")
RISKY = re.compile(
    r"(?i)\b(?:himself|herself|myself|themselves|yourself|ourselves|itself|each other|"
    r"easily|eager|easy|tough|hard|likely|certain|at|put|placed|set)\b"
)
NAME = re.compile(r"(?i)\b(?:bill|kim|sally|chris|lee|sam|pat|sandy|terry|robin|dana|leslie|lou|tony|heidi|holly|fanny|cynthia|gina)\b")
SECOND = re.compile(
    r"(?i)\b(?:who|what|which|whom|more|most|less|enough|any|ever|anyone|anything|anybody|\w+ly)\b|,"
    r"|\b(?:up|down|off|out|away|back|in|on|over|at|to|of|with|for|from|by|about)\W*$"
)
WH = re.compile(r"(?i)\b(?:who|what|which|whom)\b")
WH_PARTNER = re.compile(
    r"(?i)\b(?:did|does|do|to|whether|if)\b|\b(?:up|down|off|out|away|back|in|on|over|at|to|of|with|for|from|by|about)\W*$"
)


def solve(text):
    text = text[:1000]
    if BROKEN_VERB.search(text):
        return 0
    if PLAIN.search(text):
        return 1
    if RISKY.search(text):
        return 0
    if NAME.search(text) and SECOND.search(text):
        return 0
    if WH.search(text) and WH_PARTNER.search(text):
        return 0
    return 1
