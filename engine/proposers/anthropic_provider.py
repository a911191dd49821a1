"""Claude through Anthropic's official SDK (`anthropic.Anthropic`, the Messages API).

Key: $ANTHROPIC_API_KEY (passed to the client explicitly, so the SDK looks for no other
credentials). Base URL: $ANTHROPIC_BASE_URL, else Anthropic's. Token counts are the API's own
`usage.input_tokens` and `usage.output_tokens`. The SDK's own retries are off: ProviderBase
retries 429 and 5xx (529 overloaded included) with exponential back-off, honouring retry-after.
"""
from __future__ import annotations

import os
from typing import Any

import anthropic

from engine.errors import SkillkilnError
from engine.proposers.llm import (Completion, ProviderBase, RetryPolicy, Say, TransientError, error_text, one_line,
                                  reported_usage, transient)
from engine.records import TokenUsage

KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
DEFAULT_BASE_URL = "https://api.anthropic.com"
# Models that take a sampling temperature. This SDK's `messages.create` no longer has the parameter
# (newer models reject non-default sampling), so it goes in the body for these models only.
SAMPLING_MODELS = ("claude-3", "claude-opus-4-", "claude-sonnet-4-", "claude-haiku-4-")


def _message(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    kind = error.get("type", "")
    text = error.get("message") or error_text(exc.body if isinstance(exc.body, str) else exc.message)
    return one_line(f"HTTP {exc.status_code} {kind}: {text}".replace(" : ", ": "))


def _retry_after(exc: anthropic.APIStatusError) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _prompt_tokens(usage: Any) -> Any:
    """The prompt's tokens: input_tokens plus any the API served from or wrote to its prompt cache. skillkiln
    asks for no caching, so those are normally absent or 0; if a server caches anyway, they are still
    tokens of the prompt and count (priced as input). A count that is no whole number raises ValueError."""
    given = getattr(usage, "input_tokens", None)
    cached = [getattr(usage, name, None) for name in ("cache_creation_input_tokens", "cache_read_input_tokens")]
    if all(c is None or c == 0 for c in cached):
        return given  # TokenUsage.counted checks it
    return sum(TokenUsage.counted(count, 0).prompt for count in (given, *cached))


class AnthropicModel(ProviderBase):
    provider = "anthropic"

    def __init__(self, model: str, api_key: str | None = None, base_url: str | None = None, timeout_s: float = 300.0,
                 retry: RetryPolicy = RetryPolicy(), say: Say | None = None, strict: bool = False):
        super().__init__(retry, say)
        self.model = model
        key = api_key or os.environ.get(KEY_ENV)
        if not key:
            raise SkillkilnError(f"{KEY_ENV} is not set: export your Anthropic API key to use anthropic:{model} "
                                 f"(or use --proposer ollama; evolve also runs with --proposer offline)")
        if key != key.strip() or any(ch.isspace() or not ch.isprintable() for ch in key):
            raise SkillkilnError(f"{KEY_ENV} holds spaces or control characters (a pasted newline?): it cannot be "
                                 "sent as a header")
        self.where = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        self.timeout_s = timeout_s
        self.client = anthropic.Anthropic(api_key=key, base_url=self.where, timeout=timeout_s, max_retries=0,
                                          _strict_response_validation=strict)

    def preflight(self) -> None:
        """One free call (GET /v1/models, one entry) before the data loads: a rejected key or an unreachable
        server is one line at once. Anything else (a proxy without that route, a 5xx) is left to the first
        real call, which has retries, so the check itself never stops a run that could go."""
        try:
            self.client.models.list(limit=1, timeout=min(self.timeout_s, 30.0))
        except (anthropic.AuthenticationError, anthropic.PermissionDeniedError) as exc:
            raise SkillkilnError(f"Anthropic at {self.where} rejected the API key in {KEY_ENV} ({_message(exc)})") from None
        except anthropic.APIConnectionError as exc:  # the timeout error is one of these
            raise SkillkilnError(one_line(f"Anthropic at {self.where} is not reachable: {exc.message}")) from None
        except (anthropic.APIStatusError, anthropic.APIResponseValidationError):
            pass

    def _once(self, messages, system, max_tokens, temperature, seed) -> Completion:
        try:
            extra = {"temperature": temperature} if self.model.startswith(SAMPLING_MODELS) else None
            msg = self.client.messages.create(model=self.model, max_tokens=max_tokens, system=system,
                                              messages=messages, extra_body=extra)
        except anthropic.APITimeoutError:
            raise TransientError(f"no answer within {self.timeout_s:g} s") from None
        except anthropic.APIConnectionError as exc:
            raise TransientError(one_line(f"not reachable: {exc.message}")) from None
        except anthropic.AuthenticationError as exc:
            raise SkillkilnError(f"Anthropic at {self.where} rejected the API key in {KEY_ENV} ({_message(exc)})") from None
        except anthropic.NotFoundError as exc:
            said = _message(exc)
            if "model" not in said.lower():  # a wrong base URL (a proxy, a web server), not a missing model
                raise SkillkilnError(one_line(f"the server at {self.where} answered {said} to /v1/messages: it does "
                                              f"not look like the Anthropic API (is {BASE_URL_ENV} right?)")) from None
            raise SkillkilnError(f"Anthropic at {self.where} has no model {self.model!r} ({said})") from None
        except anthropic.APIStatusError as exc:
            if transient(exc.status_code):
                raise TransientError(_message(exc), _retry_after(exc)) from None
            raise SkillkilnError(one_line(f"anthropic:{self.model} at {self.where}: {_message(exc)}")) from None
        except anthropic.APIResponseValidationError as exc:
            raise SkillkilnError(one_line(f"anthropic:{self.model} at {self.where}: malformed response: {exc}")) from None
        except ValueError as exc:  # a 200 whose body is not JSON or not UTF-8 (cut short, a proxy): retried
            raise TransientError(one_line(f"malformed response: the body is not JSON ({type(exc).__name__}: {exc})")) from None
        try:  # the SDK does not validate a 200's body (no strict validation): a proxy's page, another API
            text = "".join(getattr(block, "text", "") for block in msg.content if getattr(block, "type", "") == "text")
            usage_block = msg.usage
        except (AttributeError, TypeError, ValueError):
            raise SkillkilnError(one_line(f"anthropic:{self.model} at {self.where}: malformed response: not a "
                                          f"Messages API answer ({str(msg)[:80]!r})")) from None
        try:  # no usage, or one that is no object: its counts are estimated (reported_usage)
            usage, estimated = reported_usage(_prompt_tokens(usage_block), getattr(usage_block, "output_tokens", None),
                                              messages, system, text)
        except ValueError as exc:
            raise SkillkilnError(one_line(f"anthropic:{self.model} at {self.where}: malformed response: {exc}")) from None
        return Completion(text, usage, msg.model or self.model, msg.stop_reason or "", estimated)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass
