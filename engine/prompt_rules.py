"""The rules of the sandbox and the static gate as every task card states them (classification and
span tasks alike), so the two cards cannot drift apart. Template text: the card fills in the $ names."""
from __future__ import annotations

CODE_RULES = """- imports only from: $imports (standard library); nothing else, no I/O, no network, no randomness
- no names starting with `_` (no dunders, no private helpers), no exec, eval, open, globals or getattr tricks,
  no str.format (use f-strings)
- at most $max_bytes bytes of source
- total: never raise, whatever the text is (empty, 100 kB long, emoji, control characters)
- deterministic, and fast: one call well under $call_s s, all $n_train train texts well under $wall_s s
"""

MEMORY_RULES = """- general rules only: a string literal holding $memorised or more consecutive words of a training text is memorisation and is rejected,
  and so is encoded data (base64 or hex text, bytes, tables of big numbers)
"""
