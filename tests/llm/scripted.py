"""A scripted "model" behind the fake servers, used to record tests/llm/transcripts/cola_small.jsonl.

It answers proposal prompts (Anthropic wire format, the creator) and repair prompts (Ollama wire
format, the repairer) the way the research log saw real models answer: some good rule skills,
SEARCH/REPLACE edits of the parent it was shown, prose with no code, a block cut off at
max_tokens, syntax errors, a forbidden import, a `_private` helper, the log's trivial
`return True` skill, a skill that crashes, and one that pastes a training sentence. Edits read
parent 1 from the prompt, so the recorded answers fit the run they were recorded in.
Token counts are ~4 characters per token of the real request and answer.
"""
from __future__ import annotations

import re
from typing import Any

from fake_servers import Reply, anthropic_message, approx_tokens, ollama_chat

CREATOR_MODEL = "claude-opus-5-5"
REPAIRER_MODEL = "qwen2.5-coder:32b"

# rules a skill may hold: (regex, weight); the first nine make skill A, all fourteen skill D
POOL = [
    r"(?i)\b(\w+) \1\b",
    r"(?i)\b\w+ed \w+ly\b",
    r"(?i)\bthat (?:is|was|will|would|has|had|can|did|does)\b",
    r"(?i)\b(?:seems|seemed|appears|appeared) (?!to\b)\w+",
    r"(?i)\b(?:of|to|in|on|at|for|with|from|by) (?:of|to|in|on|at|for|with|from|by)\b",
    r"(?i)\bthe (?:more|less|\w+er)\b[^.?!]*\bthe (?:more|less|\w+er)\b",
    r"(?i)\b(?:him|her|them|my)sel(?:f|ves)\W*$",
    r"(?i)\bwhom\b",
    r"(?i)\b(?:easily|quickly|slowly|carefully|loudly|quietly)\b",
    r"(?i)\b\w+ly\W*$",
    r"(?i)\bfor \w+ to\b",
    r"(?i)^\W*(?:who|what|which)\b[^.?!]*\b(?:who|which|whether|if|because|when)\b",
    r"(?i)\b(?:what|who|which)\b[^.?!]*\bthat\b",
    r"(?i)\b(?:put|placed|set|stood|hung)\b(?![^.?!]*\b(?:on|in|into|onto|under|near|over)\b)",
    r"(?i)\b(?:he|she|it) (?:are|were|have|do)\b",
    r"(?i)\b(?:they|we|you) (?:is|was|has|does)\b",
    r"(?i)\bmany \w+[^s\W]\b",
    r"(?i)\b(?:is|was) (?:likely|certain|easy|hard|tough|eager|important|possible)\b",
]


def rule_skill(rules: list[str], threshold: int = 1, doc: str = "Constructions English rarely allows; "
               "enough of them means 0 (unacceptable).") -> str:
    lines = "\n".join(f"    (r\"{r}\", 1)," for r in rules)
    return f'''"""{doc}"""
import re

RULES = [
{lines}
]
THRESHOLD = {threshold}


def solve(text):
    text = text[:2000]
    score = 0
    for pattern, weight in RULES:
        if re.search(pattern, text):
            score += weight
    return 0 if score >= THRESHOLD else 1
'''


SKILL_A = rule_skill(POOL[:9])
SKILL_B = '''"""Counts suspicious constructions; two points of evidence mean 0 (unacceptable)."""
import re

RULES = [
    (r"(?i)\\b(\\w+) \\1\\b", 2),
    (r"(?i)\\b\\w+ly\\W*$", 1),
    (r"(?i)\\bfor \\w+ to\\b", 1),
    (r"(?i)\\b(?:who|what|which) (?:did|does|do|is|was)\\b", 1),
    (r"(?i)\\b(?:is|was) (?:likely|certain|easy|hard|tough|eager|important|possible)\\b", 1),
    (r"(?i)^\\W*(?:who|what|which)\\b[^.?!]*\\b(?:who|which|whether|if|because|when)\\b", 2),
    (r"(?i)\\b(?:what|who|which)\\b[^.?!]*\\bthat\\b", 1),
]
THRESHOLD = 2


def solve(text):
    words = re.findall(r"[a-z']+", text.lower())
    if not words:
        return 0
    score = 0
    for pattern, weight in RULES:
        if re.search(pattern, text):
            score += weight
    if len(words) <= 3:
        score += 1
    return 0 if score >= THRESHOLD else 1
'''
SKILL_D = rule_skill(POOL[:14])
RETURN_TRUE = '''def solve(text):
    # check for common grammatical errors
    words = text.split()
    if len(words) > 0 and words[0].islower():
        pass  # might be ungrammatical
    if "  " in text:
        pass
    return True  # the sentence is grammatical
'''
RETURN_ONE = '''def solve(text):
    return 1
'''
CRASHING = '''import re
from collections import Counter

RULES = [
    (r"(?i)\\b(?:he|she|it) (?:are|were|have|do)\\b", 1),
    (r"(?i)\\b\\w+ not\\b(?<!\\b(?:is|was|do|does|did|can|will) not)", 1),
    (r"(?i)\\bthe more\\b", 1),
]
THRESHOLD = 1


def solve(text):
    score = 0
    for pattern, weight in RULES:
        if re.search(pattern, text):
            score += weight
    counts = Counter(w.lower() for w in text.split())
    if any(n > 2 for n in counts.values()):
        score += 1
    return 0 if score >= THRESHOLD else 1
'''
WITH_PRIVATE = '''import re

RULES = [r"(?i)\\b(\\w+) \\1\\b", r"(?i)\\bwhom\\b", r"(?i)\\b\\w+ly\\W*$", r"(?i)\\bfor \\w+ to\\b"]


def _score(text):
    return sum(1 for pattern in RULES if re.search(pattern, text))


def solve(text):
    return 0 if _score(text[:2000]) >= 1 else 1
'''
FIXED_PRIVATE = WITH_PRIVATE.replace("_score", "score")
WITH_IMPORT = "import os\n" + SKILL_A.replace('import re\n', 'import re\n\nDEBUG = os.environ.get("DEBUG")\n', 1)

PROSE = ("To decide grammaticality I would look at subject-verb agreement, word order, and whether every "
         "verb has the arguments it needs. A robust approach is to parse the sentence and check each "
         "constituent against English phrase-structure rules; sentences that violate them are unacceptable.")


def block(code: str, lead: str = "Here is the skill.") -> str:
    return f"{lead}\n\n```python\n{code.rstrip()}\n```\n"


def parent_code(prompt: str, which: str = "### Parent 1") -> str | None:
    at = prompt.find(which)
    if at < 0:
        return None
    m = re.search(r"```python\n(.*?)\n```", prompt[at:], re.S)
    return m.group(1) + "\n" if m else None


def misclassified(prompt: str) -> list[str]:
    return re.findall(r"^- label \d \((?:said \d|crashed)\): '(.*)'$", prompt, re.M)


def edit(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"


class ScriptedModel:
    """responder(api, body) for FakeLLMServer: creator answers on /v1/messages, repairs on /api/chat."""

    PLAN = ["first", "prose", "return_true", "add", "truncated", "syntax", "add", "import", "bad_edit", "crash",
            "add", "private", "threshold", "memorise", "add", "drop", "add", "prose", "add", "paren", "add",
            "return_one", "add", "threshold", "add"]

    def __init__(self) -> None:
        self.created = 0
        self.repaired = 0
        self.pending: str | None = None  # what the next repair answers

    def __call__(self, api: str, body: dict[str, Any]) -> Reply:
        prompt = body["messages"][-1]["content"]
        asked = approx_tokens((body.get("system") or "") + prompt)
        if api == "ollama":
            prompt = body["messages"][-1]["content"]
            text = self.repair(prompt)
            self.repaired += 1
            return ollama_chat(text, REPAIRER_MODEL, asked, approx_tokens(text))
        text, stop = self.create(prompt)
        self.created += 1
        return anthropic_message(text, CREATOR_MODEL, asked, approx_tokens(text), stop, n=self.created)

    # ------------------------------------------------------------ creator

    def create(self, prompt: str) -> tuple[str, str]:
        kind = self.PLAN[self.created % len(self.PLAN)]
        parent = parent_code(prompt)
        n = self.created
        if kind in ("add", "threshold", "drop", "bad_edit") and parent is None:
            kind = "first"
        if kind == "first":
            return block(rule_skill(POOL[n % 4: n % 4 + 9]), "A first skill: a handful of rules English rarely breaks."), "end_turn"
        if kind == "prose":
            self.pending = "skill_b" if n < 10 else "skill_d"
            return PROSE, "end_turn"
        if kind == "return_true":
            return block(RETURN_TRUE, "Most sentences are grammatical, so:"), "end_turn"
        if kind == "return_one":
            return block(RETURN_ONE), "end_turn"
        if kind == "truncated":
            self.pending = "skill_d"
            return "```python\n" + SKILL_D[: len(SKILL_D) * 2 // 3], "max_tokens"
        if kind == "syntax":
            self.pending = "prose"
            return block(SKILL_A.replace("def solve(text):", "def solve(text)")), "end_turn"
        if kind == "paren":
            self.pending = "skill_a_plus"
            return block(SKILL_A.replace("re.search(pattern, text):", "re.search(pattern, text:")), "end_turn"
        if kind == "import":
            self.pending = "no_import"
            return block(WITH_IMPORT), "end_turn"
        if kind == "private":
            self.pending = "fixed_private"
            return block(WITH_PRIVATE), "end_turn"
        if kind == "crash":
            return block(CRASHING), "end_turn"
        if kind == "memorise":
            sentences = misclassified(prompt)
            known = repr(sentences[0]) if sentences else "'the the'"
            code = SKILL_A.replace("def solve(text):", f"KNOWN_BAD = {{{known}}}\n\n\ndef solve(text):\n    if text in KNOWN_BAD:\n        return 0")
            return block(code, "Also catch sentences we know are wrong:"), "end_turn"
        if kind == "bad_edit":
            self.pending = "parent_threshold"
            return "One edit:\n\n" + edit("THRESHOLD = 7", "THRESHOLD = 2"), "end_turn"
        if kind == "threshold":
            m = re.search(r"^THRESHOLD = (\d+)$", parent, re.M)
            if m:
                new = int(m.group(1)) + (1 if n % 2 else -1)
                return "Move the threshold:\n\n" + edit(m.group(0), f"THRESHOLD = {max(1, new)}"), "end_turn"
            kind = "add"
        if kind == "drop":
            lines = [ln for ln in parent.split("\n") if ln.startswith("    (r\"")]
            if len(lines) > 3:
                return "Drop a rule that does not pay:\n\n" + edit(lines[n % len(lines)], ""), "end_turn"
            kind = "add"
        # add: one or two rules from the pool that parent 1 lacks
        missing = [r for r in POOL if r not in parent]
        start = (n * 7) % len(missing) if missing else 0
        new = (missing[start:] + missing[:start])[: 1 + n % 2]
        if "RULES = [" not in parent or not new:
            return block(rule_skill(POOL[:14 + n % 4])), "end_turn"
        weight = 2 if n % 3 == 0 else 1
        added = "\n".join(f"    (r\"{r}\", {weight})," for r in new)
        return ("Two more constructions from the misclassified examples:\n\n"
                + edit("RULES = [", "RULES = [\n" + added)), "end_turn"

    # ------------------------------------------------------------ repairer

    def repair(self, prompt: str) -> str:
        pending, self.pending = self.pending, None
        if pending == "skill_b":
            return block(SKILL_B, "Here is code for that approach:")
        if pending == "skill_d":
            return block(SKILL_D)
        if pending == "prose":
            return "The code looks correct to me; it should run as written."
        if pending == "skill_a_plus":
            return block(rule_skill(POOL[:10]))
        if pending == "no_import":
            return block(SKILL_A)
        if pending == "fixed_private":
            return block(FIXED_PRIVATE)
        if pending == "parent_threshold":
            parent = parent_code(prompt, "Parent 1, which the edits were meant for") or SKILL_A
            return block(re.sub(r"^THRESHOLD = \d+$", "THRESHOLD = 2", parent, flags=re.M))
        return block(SKILL_A)
