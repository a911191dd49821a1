"""The price table: US dollars per million tokens, the one place prices live.

Prices as of PRICES_DATE, from PRICES_SOURCE (the model overview pages of Anthropic's platform
documentation: "Input pricing" / "Output pricing" per MTok, standard tier, no caching, no batch
discount). Update the date and the source with the numbers. Prompt-cache tokens, which skillkiln
never asks for, are counted as input and priced at the input rate.

Ollama models run on your own machine: their tokens are counted but cost 0 USD here (the
electricity is yours). A model with no entry is unpriced: its tokens are still ledgered, its cost
shows as unknown, and `--max-cost-usd` refuses to start with it.
"""
from __future__ import annotations

PRICES_DATE = "2026-12-06"
PRICES_SOURCE = "https://platform.claude.com/docs/en/about-claude/models/overview (model pages: input / output pricing per MTok)"

# provider -> model id (or alias) -> (input USD per MTok, output USD per MTok)
PRICES: dict[str, dict[str, tuple[float, float]]] = {
    "anthropic": {
        "claude-opus-5-5": (4.0, 20.0),
        "claude-opus-5": (5.0, 25.0),
        "claude-sonnet-5-5": (2.0, 10.0),
        "claude-sonnet-5": (2.0, 10.0),
        "claude-opus-4-5": (5.0, 25.0),
        "claude-opus-4-5-20251101": (5.0, 25.0),
        "claude-sonnet-4-5": (3.0, 15.0),
        "claude-sonnet-4-5-20250929": (3.0, 15.0),
        "claude-haiku-4-5": (1.0, 5.0),
        "claude-haiku-4-5-20251001": (1.0, 5.0),
    },
}

# providers whose every model is free at the point of use (local inference)
FREE_PROVIDERS = ("ollama",)
