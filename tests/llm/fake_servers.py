"""A local stand-in for Ollama and the Anthropic API: a threaded http.server on 127.0.0.1.

It speaks the real wire formats, so the real SDK clients (`ollama.Client`, `anthropic.Anthropic`)
talk to it unchanged:

- Ollama: POST /api/chat (non-streaming: `message`, `done`, `done_reason`, `prompt_eval_count`,
  `eval_count` and the duration fields), POST /api/show, GET /api/tags, and errors as
  `{"error": "..."}` (404 `model "X" not found, try pulling it first` for a model not pulled).
- Anthropic: POST /v1/messages (`id`, `type: message`, `role`, `model`, `content: [{type: text}]`,
  `stop_reason`, `stop_sequence`, `usage.input_tokens` / `output_tokens`), GET /v1/models (one
  page of `{type: model, id, display_name, created_at}` with `has_more`, `first_id`, `last_id`;
  every /v1/ route answers 401 without a key or with one in `rejected_keys`), errors as
  `{"type": "error", "error": {"type": ..., "message": ...}, "request_id": ...}` with a
  `request-id` header.

Replies come from a queue per API (Reply objects: status, body, delay, headers), else from a
responder function. A delay longer than the client's timeout makes a timeout. Nothing here
listens anywhere but 127.0.0.1.
"""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

CREATED_AT = "2026-11-25T09:00:00.000000000Z"
ANTHROPIC_MODELS = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-4-5-20251001")  # GET /v1/models, newest first


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # a dict (sent as JSON) or a str (sent as is)
    delay: float = 0.0  # seconds to sleep before answering
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    body: Any
    headers: dict[str, str]


def approx_tokens(text: str) -> int:
    return max(1, len(text) // 4)


# ---------------------------------------------------------------- wire formats


def ollama_chat(text: str, model: str = "llama3.2:3b", prompt_tokens: int = 120, completion_tokens: int = 60,
                done_reason: str = "stop") -> Reply:
    return Reply(200, {
        "model": model, "created_at": CREATED_AT,
        "message": {"role": "assistant", "content": text},
        "done_reason": done_reason, "done": True,
        "total_duration": 5_043_500_667, "load_duration": 5_025_959,
        "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 325_953_000,
        "eval_count": completion_tokens, "eval_duration": 4_709_213_000,
    })


def ollama_error(status: int, message: str) -> Reply:
    return Reply(status, {"error": message})


def anthropic_message(text: str, model: str = "claude-opus-5-5", input_tokens: int = 1200,
                      output_tokens: int = 300, stop_reason: str = "end_turn", n: int = 0) -> Reply:
    return Reply(200, {
        "id": f"msg_01Fake{n:018d}", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": output_tokens, "service_tier": "standard"},
    }, headers={"request-id": f"req_01Fake{n:018d}"})


def anthropic_error(status: int, kind: str, message: str, retry_after: float | None = None) -> Reply:
    headers = {"request-id": "req_01FakeError", "x-should-retry": "true" if status in (429, 500, 529) else "false"}
    if retry_after is not None:
        headers["retry-after"] = str(retry_after)
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_01FakeError"},
                 headers=headers)


def _show(model: str) -> dict[str, Any]:
    family = model.split(":")[0].split(".")[0]
    return {
        "license": "", "modelfile": f"FROM {model}\n", "parameters": "stop \"<|im_end|>\"",
        "template": "{{ .Prompt }}",
        "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                    "parameter_size": "3.2B", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": family}, "capabilities": ["completion"],
        "modified_at": "2026-11-20T10:00:00.000000000Z",
    }


# ---------------------------------------------------------------- the server


Responder = Callable[[str, dict[str, Any]], Reply]  # (api: "ollama" | "anthropic", request body) -> Reply


class FakeLLMServer:
    """`with FakeLLMServer() as server:` ... `server.url` is http://127.0.0.1:PORT."""

    def __init__(self, pulled: tuple[str, ...] = ("llama3.2:3b", "qwen2.5-coder:32b", "deepseek-r1:70b"),
                 responder: Responder | None = None):
        self.pulled = set(pulled)
        self.rejected_keys: set[str] = set()  # Anthropic API keys answered with 401 on every route
        self.responder = responder
        self.queues: dict[str, deque[Reply]] = {"ollama": deque(), "anthropic": deque()}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ scripting

    def push(self, api: str, *replies: Reply) -> None:
        with self._lock:
            self.queues[api].extend(replies)

    def chats(self, api: str) -> list[Seen]:
        path = "/api/chat" if api == "ollama" else "/v1/messages"
        return [s for s in self.seen if s.path == path]

    def _next(self, api: str, body: dict[str, Any]) -> Reply:
        with self._lock:
            if self.queues[api]:
                return self.queues[api].popleft()
        if self.responder is not None:
            return self.responder(api, body)
        if api == "ollama":
            return ollama_error(500, "fake server: no reply queued")
        return anthropic_error(500, "api_error", "fake server: no reply queued")

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def start(self) -> "FakeLLMServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    return json.loads(raw) if raw else {}
                except ValueError:
                    return raw.decode("utf-8", "replace")

            def _send(self, reply: Reply) -> None:
                if reply.delay:
                    time.sleep(reply.delay)
                payload = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = payload.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", "application/json" if not isinstance(reply.body, str) else "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in reply.headers.items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _route(self, method: str) -> None:
                body = self._body() if method == "POST" else {}
                server.seen.append(Seen(method, self.path.split("?")[0], body, dict(self.headers)))
                path = self.path.split("?")[0]
                if method == "GET" and path == "/api/tags":
                    models = [{"name": m, "model": m, "modified_at": "2026-11-20T10:00:00Z", "size": 2_019_393_189,
                               "digest": "a80c4f17acd5" + "0" * 52, "details": _show(m)["details"]} for m in sorted(server.pulled)]
                    return self._send(Reply(200, {"models": models}))
                if method == "GET" and path in ("/", "/api/version"):
                    return self._send(Reply(200, {"version": "0.12.6"}))
                if method == "POST" and path == "/api/show":
                    model = body.get("model", "")
                    if model not in server.pulled:
                        return self._send(ollama_error(404, f"model '{model}' not found"))
                    return self._send(Reply(200, _show(model)))
                if method == "POST" and path == "/api/chat":
                    model = body.get("model", "")
                    if model not in server.pulled:
                        return self._send(ollama_error(404, f'model "{model}" not found, try pulling it first'))
                    return self._send(server._next("ollama", body))
                if path.startswith("/v1/"):
                    key = self.headers.get("x-api-key") or (self.headers.get("authorization") or "").removeprefix("Bearer ")
                    if not key:
                        return self._send(anthropic_error(401, "authentication_error", "x-api-key header is required"))
                    if key in server.rejected_keys:
                        return self._send(anthropic_error(401, "authentication_error", "invalid x-api-key"))
                if method == "GET" and path == "/v1/models":
                    data = [{"type": "model", "id": m, "display_name": m, "created_at": "2026-11-24T00:00:00Z"}
                            for m in ANTHROPIC_MODELS]
                    return self._send(Reply(200, {"data": data[:1], "has_more": len(data) > 1,
                                                  "first_id": data[0]["id"], "last_id": data[0]["id"]}))
                if method == "POST" and path == "/v1/messages":
                    return self._send(server._next("anthropic", body))
                return self._send(Reply(404, {"error": f"no route {method} {path}"}))

            def do_GET(self) -> None:  # noqa: N802
                self._route("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._route("POST")

            def do_HEAD(self) -> None:  # noqa: N802
                self._route("GET")

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        httpd.daemon_threads = True
        httpd.block_on_close = False
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeLLMServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
