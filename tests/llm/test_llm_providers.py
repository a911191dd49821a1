"""The real SDK clients (ollama, anthropic) against the local fake server: round trips with the
providers' own token counts, retries with back-off on 429 / 5xx / timeouts, and one-line errors."""
from __future__ import annotations

import time

import pytest

from engine.errors import SkillkilnError
from engine.proposers.anthropic_provider import AnthropicModel
from engine.proposers.llm import RetryPolicy
from engine.proposers.ollama_provider import OllamaModel
from fake_servers import anthropic_error, anthropic_message, ollama_chat, ollama_error, Reply
from llm_helpers import FAST, anthropic_env, one_line_error, run_cli, server  # noqa: F401 - fixtures

USER = [{"role": "user", "content": "write a skill"}]


def ollama(server, model="llama3.2:3b", **kw) -> OllamaModel:
    return OllamaModel(model, host=server.url, timeout_s=kw.pop("timeout_s", 5), retry=kw.pop("retry", FAST), **kw)


def claude(server, model: str = "claude-opus-5-5", **kw) -> AnthropicModel:
    return AnthropicModel(model, api_key="sk-ant-fake", base_url=server.url,
                          timeout_s=kw.pop("timeout_s", 5), retry=kw.pop("retry", FAST), strict=kw.pop("strict", True), **kw)


def test_ollama_round_trip_reports_prompt_eval_and_eval_counts(server):
    server.push("ollama", ollama_chat("```python\ndef solve(text):\n    return 1\n```", "llama3.2:3b", 321, 45))
    model = ollama(server)
    model.preflight()
    done = model.complete(USER, "be brief", 512, 0.7, seed=11)
    assert done.usage.prompt == 321 and done.usage.completion == 45
    assert done.model == "llama3.2:3b" and done.stop == "stop" and "def solve" in done.text
    sent = server.chats("ollama")[0].body
    assert sent["model"] == "llama3.2:3b" and sent["stream"] is False
    assert sent["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["options"]["num_predict"] == 512 and sent["options"]["temperature"] == 0.7
    assert sent["options"]["seed"] == 11 and sent["options"]["num_ctx"] >= 8192


def test_anthropic_round_trip_reports_input_and_output_tokens(server):
    server.push("anthropic", anthropic_message("hello", "claude-haiku-4-5", input_tokens=1234, output_tokens=56))
    done = claude(server, "claude-haiku-4-5").complete(USER, "be brief", 300, 0.5)
    assert (done.text, done.usage.prompt, done.usage.completion) == ("hello", 1234, 56)
    assert done.model == "claude-haiku-4-5" and done.stop == "end_turn"
    seen = server.chats("anthropic")[0]
    assert seen.body["system"] == "be brief" and seen.body["max_tokens"] == 300
    assert seen.body["messages"] == USER and seen.body["temperature"] == 0.5
    # a model that rejects non-default sampling (the default one) gets no temperature at all
    server.push("anthropic", anthropic_message("hi", input_tokens=10, output_tokens=2))
    done = claude(server).complete(USER, "be brief", 300, 0.5)
    assert done.model == "claude-opus-5-5" and "temperature" not in server.chats("anthropic")[1].body
    assert seen.headers.get("anthropic-version")


def test_anthropic_prompt_cache_tokens_count_as_prompt_tokens(server):
    """Tokens the API read from or wrote to its prompt cache are tokens of the prompt: ledgered, not dropped."""
    reply = anthropic_message("hello", input_tokens=40, output_tokens=5)
    reply.body["usage"].update(cache_creation_input_tokens=1000, cache_read_input_tokens=200)
    server.push("anthropic", reply)
    done = claude(server, strict=False).complete(USER, "be brief", 300, 0.5)
    assert (done.usage.prompt, done.usage.completion) == (1240, 5)
    broken = anthropic_message("hello", input_tokens=40, output_tokens=5)
    broken.body["usage"].update(cache_read_input_tokens=-7)
    server.push("anthropic", broken)
    with pytest.raises(SkillkilnError, match="malformed response: token counts must be whole numbers"):
        claude(server, strict=False).complete(USER, "be brief", 300, 0.5)


def test_429_then_success_is_retried_with_backoff(server):
    server.push("anthropic", anthropic_error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit"),
                anthropic_message("ok"))
    slept = []
    model = claude(server, retry=RetryPolicy(attempts=3, base_s=0.02))
    model.sleep = lambda s: slept.append(s) or time.sleep(s)
    assert model.complete(USER, "s", 10, 0.0).text == "ok"
    assert model.retries == 1 and slept == [0.02] and len(server.chats("anthropic")) == 2


def test_529_and_500_are_retried_then_give_up_in_one_line(server):
    server.push("anthropic", anthropic_error(529, "overloaded_error", "Overloaded"), anthropic_message("ok"))
    assert claude(server).complete(USER, "s", 10, 0.0).text == "ok"
    server.push("ollama", *[ollama_error(500, "llama runner process has terminated")] * 3)
    with pytest.raises(SkillkilnError) as info:
        ollama(server).complete(USER, "s", 10, 0.0)
    message = str(info.value)
    assert "\n" not in message and "HTTP 500" in message and "gave up after 3 attempts" in message


def test_backoff_doubles_and_honours_retry_after():
    policy = RetryPolicy(attempts=5, base_s=1.0, max_s=6.0)
    assert [policy.delay(i) for i in range(4)] == [1.0, 2.0, 4.0, 6.0]
    assert policy.delay(0, retry_after=3.0) == 3.0 and policy.delay(0, retry_after=60) == 6.0


def test_a_timeout_is_retried(server):
    server.push("ollama", Reply(200, ollama_chat("slow").body, delay=1.5), ollama_chat("fast", prompt_tokens=3, completion_tokens=1))
    model = ollama(server, timeout_s=0.3)
    started = time.perf_counter()
    done = model.complete(USER, "s", 10, 0.0)
    assert done.text == "fast" and model.retries == 1
    assert time.perf_counter() - started < 1.4  # did not wait for the slow answer


def test_timeouts_every_time_end_in_one_line(server):
    server.push("anthropic", *[Reply(200, anthropic_message("late").body, delay=1.0)] * 2)
    with pytest.raises(SkillkilnError) as info:
        claude(server, timeout_s=0.2, retry=RetryPolicy(attempts=2, base_s=0.01)).complete(USER, "s", 10, 0.0)
    assert "no answer within 0.2 s" in str(info.value) and "\n" not in str(info.value)


def test_a_model_not_pulled_names_ollama_pull(server):
    model = ollama(server, model="deepseek-r1:671b")
    with pytest.raises(SkillkilnError, match=r"run `ollama pull deepseek-r1:671b`"):
        model.preflight()
    with pytest.raises(SkillkilnError, match=r"ollama pull deepseek-r1:671b"):
        model.complete(USER, "s", 10, 0.0)


def test_a_rejected_key_and_a_missing_key_are_clear(server, monkeypatch):
    server.push("anthropic", anthropic_error(401, "authentication_error", "invalid x-api-key"))
    with pytest.raises(SkillkilnError, match="rejected the API key"):
        claude(server).complete(USER, "s", 10, 0.0)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(SkillkilnError, match="ANTHROPIC_API_KEY is not set"):
        AnthropicModel("claude-opus-5-5", base_url=server.url)


def test_a_rejected_key_is_found_before_the_data_loads(server, tmp_path):
    claude(server).preflight()  # a good key: GET /v1/models answers
    AnthropicModel("claude-opus-5-5", api_key="sk-ant-fake", base_url=server.url + "/proxy", retry=FAST).preflight()
    server.rejected_keys.add("sk-ant-revoked")  # (a server without that route, above, is left to the first real call)
    # no data in the folder it names: had the data loaded first, the error would be about CoLA
    (tmp_path / "no-data").mkdir()
    done = run_cli("evolve", "--task", "cola", "--proposer", "anthropic", "--store", str(tmp_path / "s.sqlite"),
                   env={"ANTHROPIC_API_KEY": "sk-ant-revoked", "ANTHROPIC_BASE_URL": server.url,
                        "SKILLKILN_DATA_DIR": str(tmp_path / "no-data")}, timeout=60)
    assert done.returncode == 2 and "rejected the API key in ANTHROPIC_API_KEY" in one_line_error(done)
    assert [s.path for s in server.seen if s.path.startswith("/v1/")][-1] == "/v1/models"  # no message was sent


def test_unreachable_ollama_is_one_line_within_seconds(tmp_path):
    started = time.perf_counter()
    done = run_cli("evolve", "--task", "cola", "--iters", "25", "--proposer", "ollama",
                   "--ollama-host", "http://127.0.0.1:1", "--store", str(tmp_path / "s.sqlite"), timeout=60)
    elapsed = time.perf_counter() - started
    assert done.returncode != 0
    line = one_line_error(done)
    assert "Ollama is not reachable at http://127.0.0.1:1" in line
    assert elapsed < 10


def evolve_error(*args: str) -> SkillkilnError:
    """`evolve ARGS` in-process (the data never loads: the provider check comes first)."""
    from click.testing import CliRunner

    from engine.cli import evolve

    result = CliRunner().invoke(evolve, list(args))
    assert isinstance(result.exception, SkillkilnError), result.output
    assert "\n" not in str(result.exception)
    return result.exception


def test_missing_key_on_the_command_line_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
    error = evolve_error("--task", "cola", "--proposer", "anthropic", "--store", str(tmp_path / "s.sqlite"))
    assert "ANTHROPIC_API_KEY is not set" in str(error) and error.exit_code == 2


def test_a_model_not_pulled_on_the_command_line(server, tmp_path):
    error = evolve_error("--task", "cola", "--proposer", "ollama", "--model", "llama3.3:70b",
                         "--ollama-host", server.url, "--store", str(tmp_path / "s.sqlite"))
    assert "run `ollama pull llama3.3:70b`" in str(error)


def test_a_200_that_is_no_messages_answer_is_one_line_as_evolve_runs_it(server):
    """evolve builds the client without strict validation (a newer API field must not break it), so
    the body of a 200 is checked where it is read: a proxy's page or another API's JSON is 'malformed'."""
    for body in ("<html>this is not json{{{", {"unexpected": "shape"}):
        server.push("anthropic", Reply(200, body))
        with pytest.raises(SkillkilnError, match="malformed response: not a Messages API answer") as error:
            claude(server, strict=False).complete(USER, "s", 10, 0.0)
        assert "\n" not in str(error.value)


def test_a_501_html_page_is_not_retried_and_not_pasted(server):
    """A wrong base URL (a web server that is no LLM API) answers 501 with an HTML page."""
    page = "<!DOCTYPE HTML PUBLIC><html><head><title>Error response</title></head><body>Unsupported method</body></html>"
    for api, make in (("anthropic", claude), ("ollama", ollama)):
        server.push(api, Reply(501, page, headers={"content-type": "text/html"}))
        with pytest.raises(SkillkilnError) as error:
            make(server).complete(USER, "s", 10, 0.0)
        assert "HTML page, not the API's answer" in str(error.value) and "<" not in str(error.value)
        assert len(server.chats(api)) == 1  # not retried: 501 will not change


def test_token_counts_a_server_reports_must_be_counts(server):
    """A negative count lowered the ledger and lifted --max-cost-usd: a malformed answer, in one line."""
    server.push("anthropic", anthropic_message("```python\ndef solve(text):\n    return 1\n```", "claude-opus-5-5",
                                               -5_000_000, 10))
    with pytest.raises(SkillkilnError, match="malformed response: token counts must be whole numbers from 0 to"):
        claude(server, strict=False).complete([{"role": "user", "content": "hi"}], "sys", 64, 0.0)


def test_token_counts_a_server_leaves_out_are_estimated_not_booked_as_0(server, tmp_path):
    """An answer with no usage, a usage that is no object, or one count missing was booked at 0 tokens (or was
    refused, its paid answer lost), so --max-cost-usd never saw it: the missing count is estimated at 4
    characters a token, the model warns once, and its stats count such answers."""
    said = []
    model = claude(server, strict=False)
    model.say = said.append
    answer = "x" * 400  # 100 tokens at 4 characters a token
    no_usage = anthropic_message(answer, "claude-opus-5-5")
    no_usage.body.pop("usage")
    not_object = anthropic_message(answer, "claude-opus-5-5")
    not_object.body["usage"] = 5
    no_output = anthropic_message(answer, "claude-opus-5-5", 1234)
    del no_output.body["usage"]["output_tokens"]
    server.push("anthropic", no_usage, not_object, no_output, anthropic_message(answer, "claude-opus-5-5", 7, 8))
    user = [{"role": "user", "content": "y" * 797}]  # with the system prompt "sys": 800 characters, 200 tokens
    done = [model.complete(user, "sys", 64, 0.0) for _ in range(4)]
    assert [(d.usage.prompt, d.usage.completion, d.estimated) for d in done] == [
        (200, 100, True), (200, 100, True), (1234, 100, True), (7, 8, False)]
    assert model.estimated == 3 and len(said) == 1 and "without its token counts" in said[0]
    cached = ollama_chat(answer, "qwen2.5-coder:32b", 0, 55)  # Ollama leaves the count out for a cached prompt
    del cached.body["prompt_eval_count"]
    server.push("ollama", cached)
    done = OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST).complete(user, "sys", 64, 0.0)
    assert (done.usage.prompt, done.usage.completion, done.estimated) == (200, 55, True)
    from engine.config import RunConfig
    from engine.proposers.replay import RecordingModel, ReplayModel, Transcript, TranscriptWriter

    server.push("ollama", cached)  # recorded, the estimate stays one when replayed
    path = tmp_path / "t.jsonl"
    writer = TranscriptWriter.open(path, RunConfig(task="cola"), "ollama:qwen2.5-coder:32b", "ollama:qwen2.5-coder:32b")
    live = OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST)
    recorded = RecordingModel(live, "creator", writer).complete(user, "sys", 64, 0.0)
    writer.close()
    assert ReplayModel(Transcript.load(path), "creator").complete(user, "sys", 64, 0.0) == recorded and recorded.estimated
    server.push("ollama", ollama_chat("hello", "qwen2.5-coder:32b", -3, 5))
    with pytest.raises(SkillkilnError, match="malformed response: token counts"):
        OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST).complete(
            [{"role": "user", "content": "hi"}], "sys", 64, 0.0)


def test_an_ollama_body_that_is_json_but_no_object_and_a_bad_host_are_one_line(server):
    server.push("ollama", Reply(200, [1, 2]))
    with pytest.raises(SkillkilnError, match="malformed response"):
        OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST).complete(
            [{"role": "user", "content": "hi"}], "sys", 64, 0.0)
    for host in ("::::", "http://:11434", "http://127.0.0.1:port"):
        with pytest.raises(SkillkilnError, match="is not a URL"):
            OllamaModel("qwen2.5-coder:32b", host=host)


def test_a_404_that_is_not_about_a_model_and_a_key_with_a_newline_are_named_as_such(server, monkeypatch):
    """Any 404 read as 'does not have model, run ollama pull' (a proxy or web server on that port); a key
    with a pasted newline read as 'not reachable'."""
    server.push("ollama", Reply(404, ""))
    with pytest.raises(SkillkilnError, match="does not look like Ollama"):
        OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST).complete(
            [{"role": "user", "content": "hi"}], "sys", 64, 0.0)
    server.push("ollama", ollama_error(404, "model 'qwen2.5-coder:32b' not found"))
    with pytest.raises(SkillkilnError, match="does not have model"):
        OllamaModel("qwen2.5-coder:32b", host=server.url, timeout_s=5, retry=FAST).complete(
            [{"role": "user", "content": "hi"}], "sys", 64, 0.0)
    server.push("anthropic", anthropic_error(404, "not_found_error", "Not Found"))
    with pytest.raises(SkillkilnError, match="does not look like the Anthropic API"):
        claude(server).complete([{"role": "user", "content": "hi"}], "sys", 64, 0.0)
    server.push("anthropic", anthropic_error(404, "not_found_error", "model: claude-nosuch"))
    with pytest.raises(SkillkilnError, match="has no model"):
        claude(server).complete([{"role": "user", "content": "hi"}], "sys", 64, 0.0)
    for key in ("sk-ant\nabc", "   ", " sk-ant-x"):
        with pytest.raises(SkillkilnError, match="spaces or control characters"):
            AnthropicModel("claude-opus-5-5", api_key=key, base_url=server.url)
