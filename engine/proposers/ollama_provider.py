"""Ollama through its official SDK (`ollama.Client`): local models such as qwen2.5-coder:32b,
llama3.2:3b or deepseek-r1:70b (whose <think> blocks parsing strips).

Host: --ollama-host, else $OLLAMA_HOST, else http://127.0.0.1:11434. Token counts are Ollama's
own: `prompt_eval_count` (prompt) and `eval_count` (completion).
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit

import httpx
import ollama

from engine.errors import SkillkilnError
from engine.proposers.llm import (Completion, ProviderBase, RetryPolicy, Say, TransientError, error_text, one_line,
                                  reported_usage, transient)

DEFAULT_HOST = "http://127.0.0.1:11434"
NUM_CTX = 16384  # Ollama's default context (2-4k tokens) would silently cut our prompts


def checked_host(host: str | None) -> str:
    """--ollama-host, else $OLLAMA_HOST, else the default; a value that is no URL is one line now (the client
    would fail on it at its first call as an 'unexpected ValueError')."""
    where = host or os.environ.get("OLLAMA_HOST") or DEFAULT_HOST
    try:
        parts = urlsplit(where if "://" in where else f"http://{where}")
        parts.port  # noqa: B018 - raises ValueError for a port that is no number
        if not parts.hostname:
            raise ValueError("no host name")
    except ValueError as exc:
        raise SkillkilnError(f"the Ollama host {where!r} is not a URL ({exc}); write e.g. http://127.0.0.1:11434") from None
    return where


def unreachable(where: str) -> SkillkilnError:
    return SkillkilnError(f"Ollama is not reachable at {where}: start it (`ollama serve`) or point "
                          f"--ollama-host / OLLAMA_HOST at it")


def not_pulled(where: str, model: str, exc: BaseException | None = None) -> SkillkilnError:
    """A 404: Ollama's own says the model is not found; any other (a proxy, a web server, not Ollama at all)
    is not taken for a missing model."""
    said = error_text(getattr(exc, "error", "")) if exc is not None else "not found"
    if exc is not None and "not found" not in said.lower():
        return SkillkilnError(one_line(f"the server at {where} answered HTTP 404 ({said or 'no body'}): it does not look "
                                       "like Ollama (is --ollama-host or OLLAMA_HOST right?)"))
    return SkillkilnError(f"Ollama at {where} does not have model {model!r}: run `ollama pull {model}`")


def fatal_error(exc: BaseException, where: str, model: str, timeout_s: float) -> SkillkilnError | None:
    """The one-line error for a call to Ollama that cannot go on (no retry), or None for any other
    exception. Used by the chat model's preflight and by the embedder (engine/evidence.py)."""
    if isinstance(exc, ConnectionError):
        return unreachable(where)
    if isinstance(exc, httpx.TimeoutException):
        return SkillkilnError(f"Ollama at {where} did not answer within {timeout_s:g} s")
    if isinstance(exc, httpx.HTTPError):
        return SkillkilnError(one_line(f"Ollama at {where}: {exc}"))
    if isinstance(exc, ollama.ResponseError):
        if exc.status_code == 404:
            return not_pulled(where, model, exc)
        return SkillkilnError(one_line(f"Ollama at {where}: HTTP {exc.status_code}: {error_text(exc.error)}"))
    return None


class OllamaModel(ProviderBase):
    provider = "ollama"

    def __init__(self, model: str, host: str | None = None, timeout_s: float = 300.0,
                 retry: RetryPolicy = RetryPolicy(), say: Say | None = None, num_ctx: int = NUM_CTX):
        super().__init__(retry, say)
        self.model = model
        self.where = checked_host(host)
        self.timeout_s = timeout_s
        self.num_ctx = num_ctx
        self.client = ollama.Client(host=self.where, timeout=timeout_s)

    def _unreachable(self) -> SkillkilnError:
        return unreachable(self.where)

    def _not_pulled(self, exc: BaseException | None = None) -> SkillkilnError:
        return not_pulled(self.where, self.model, exc)

    def preflight(self) -> None:
        """One cheap call (/api/show): the server answers and the model is pulled."""
        try:
            self.client.show(self.model)
        except Exception as exc:  # noqa: BLE001 - mapped to one line, or raised as it is
            fatal = fatal_error(exc, self.where, self.model, self.timeout_s)
            if fatal is None:
                raise
            raise fatal from None

    def _once(self, messages, system, max_tokens, temperature, seed) -> Completion:
        options = {"temperature": temperature, "num_predict": max_tokens, "num_ctx": self.num_ctx}
        if seed is not None:
            options["seed"] = seed
        try:
            r = self.client.chat(model=self.model, messages=[{"role": "system", "content": system}, *messages],
                                 options=options, stream=False)
        except ConnectionError:
            raise TransientError(f"not reachable at {self.where}") from None
        except httpx.TimeoutException:
            raise TransientError(f"no answer within {self.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise TransientError(one_line(f"{type(exc).__name__}: {exc}")) from None
        except ollama.ResponseError as exc:
            if exc.status_code == 404:
                raise self._not_pulled(exc) from None
            if transient(exc.status_code):
                raise TransientError(one_line(f"HTTP {exc.status_code}: {error_text(exc.error)}")) from None
            raise SkillkilnError(one_line(f"{self.provider}:{self.model} at {self.where}: HTTP {exc.status_code}: "
                                          f"{error_text(exc.error)}")) from None
        except (ValueError, TypeError) as exc:  # pydantic, or a body that is JSON but no object ([1, 2], null)
            raise SkillkilnError(one_line(f"{self.provider}:{self.model} at {self.where}: malformed response: {exc}")) from None
        text = r.message.content or ""
        try:  # Ollama leaves prompt_eval_count out when it served the prompt from its cache: estimated
            usage, estimated = reported_usage(r.prompt_eval_count, r.eval_count, messages, system, text)
        except ValueError as exc:
            raise SkillkilnError(one_line(f"{self.provider}:{self.model} at {self.where}: malformed response: {exc}")) from None
        return Completion(text, usage, r.model or self.model, r.done_reason or "", estimated)

    def close(self) -> None:
        try:
            self.client._client.close()
        except Exception:  # noqa: BLE001 - closing twice, or a client the SDK changed
            pass
