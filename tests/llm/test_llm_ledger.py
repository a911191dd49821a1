"""The token ledger: costs from the price table, --max-cost-usd stopping a run cleanly, a provider
crash that keeps the stored candidates, best-of-n, the baseline command and the break-even line."""
from __future__ import annotations

import json

import pytest

from engine.config import RunConfig
from engine.errors import SkillkilnError
from engine.ledger import BudgetExhausted, Ledger, break_even, call_bound, cost_of, find_baseline
from engine.loop import Run
from engine.proposers.llm import build_llm_proposer
from engine.records import TokenUsage
from fake_servers import anthropic_error, anthropic_message, approx_tokens
from llm_helpers import FAST, anthropic_env, server  # noqa: F401 - fixtures
from scripted import SKILL_D, block

MODEL = "claude-opus-5-5"


def test_costs_come_from_the_price_table():
    assert cost_of("anthropic", MODEL, TokenUsage(1_000_000, 0)) == pytest.approx(4.0)
    assert cost_of("anthropic", "claude-opus-4-5", TokenUsage(0, 1_000_000)) == pytest.approx(25.0)
    assert cost_of("anthropic", "claude-haiku-4-5", TokenUsage(2000, 1000)) == pytest.approx(0.007)
    assert cost_of("ollama", "qwen2.5-coder:32b", TokenUsage(10**6, 10**6)) == 0.0
    assert cost_of("anthropic", "claude-unknown-9", TokenUsage(10, 10)) is None
    ledger = Ledger()
    ledger.record("anthropic", MODEL, "creator", TokenUsage(1000, 200))
    ledger.record("anthropic", "claude-unknown-9", "repairer", TokenUsage(10, 10))
    summary = ledger.summary()
    assert summary["calls"] == 2 and summary["total"] == 1220 and summary["priced"] is False
    assert summary["cost_usd"] == pytest.approx(0.008) and summary["prices"]["date"]
    with pytest.raises(SkillkilnError, match="needs a price for anthropic:claude-unknown-9"):
        Ledger(budget_usd=1.0).require_prices([("anthropic", "claude-unknown-9")])


def test_the_budget_is_checked_before_each_call():
    ledger = Ledger(budget_usd=0.01)
    ledger.check_budget()
    ledger.record("anthropic", MODEL, "creator", TokenUsage(2500, 0))  # $0.01
    with pytest.raises(BudgetExhausted, match=r"spent \$0.0100 of \$0.0100"):
        ledger.check_budget()


def test_a_call_that_could_cross_the_budget_is_not_made():
    bound = call_bound("anthropic", MODEL, 4000, 100)  # 1,000 prompt tokens (4 characters each), 100 out
    assert bound == pytest.approx(cost_of("anthropic", MODEL, TokenUsage(1000, 100)))
    assert call_bound("ollama", "llama3.2:3b", 4000, 100) == 0.0
    ledger = Ledger(budget_usd=0.01)
    ledger.record("anthropic", MODEL, "creator", TokenUsage(2000, 0))  # $0.008 of $0.01
    ledger.check_budget(0.002)  # exactly fits
    with pytest.raises(BudgetExhausted, match=r"spent \$0.0080 of \$0.0100; the next call could cost up to about \$0.0021"):
        ledger.check_budget(0.0021)


def test_the_bound_learns_how_dense_a_models_prompts_are():
    """Prompts were estimated at 4 characters a token; a server that counts more tokens (code, JSON, other
    scripts) made each call cost more than its bound. The bound now takes the densest prompt reported."""
    ledger = Ledger(budget_usd=1.0)
    assert ledger.bound("anthropic", MODEL, 4000, 100) == pytest.approx(call_bound("anthropic", MODEL, 4000, 100))
    ledger.record("anthropic", MODEL, "creator", TokenUsage(2000, 50), prompt_chars=4000)  # 2 characters a token
    assert ledger.bound("anthropic", MODEL, 4000, 100) == pytest.approx(cost_of("anthropic", MODEL, TokenUsage(2000, 100)))
    ledger.record("anthropic", MODEL, "creator", TokenUsage(500, 50), prompt_chars=4000)  # sparser: ignored
    ledger.record("anthropic", MODEL, "creator", TokenUsage(9000, 50))  # no length given (estimated): ignored
    assert ledger.bound("anthropic", MODEL, 4000, 100) == pytest.approx(cost_of("anthropic", MODEL, TokenUsage(2000, 100)))
    assert ledger.bound("anthropic", "claude-haiku-4-5", 4000, 100) == pytest.approx(
        call_bound("anthropic", "claude-haiku-4-5", 4000, 100))  # another model: its own


def test_dense_prompts_do_not_take_the_run_past_its_cap(anthropic_env, cola, local_backend, store):
    """A server that counts a token for every 1.5 characters of prompt, and answers near max_tokens: at 4
    characters a token the third call's bound was about $0.0075 short, and that call took a $0.277 run to
    $0.281."""
    server = anthropic_env

    def dense(_api, body):
        chars = len(body["system"]) + len(body["messages"][-1]["content"])
        return anthropic_message(block(SKILL_D), MODEL, int(chars / 1.5), 4000)

    server.responder = dense
    cfg = config(max_cost_usd=0.277, iters=6)
    summary = Run(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store).execute()
    costs = [c["cost_usd"] for c in store.calls(store.runs()[0]["id"])]
    assert summary["stop_reason"].startswith("max cost reached") and len(costs) == 2, costs
    assert sum(costs) <= cfg.max_cost_usd
    # resumed, the bound starts from the density its booked calls showed, not from 4 characters a token
    proposer = build_llm_proposer(cfg, retry=FAST)
    Run.resume(cfg, cola, local_backend, proposer, store, store.runs()[0]["id"])
    assert proposer.ledger.bound("anthropic", MODEL, 3000, 4096) == pytest.approx(
        cost_of("anthropic", MODEL, TokenUsage(2000, 4096)), rel=0.01)


def test_break_even_in_tokens_and_dollars():
    ledger = {"total": 50_000, "cost_usd": 0.3, "priced": True}
    baseline = {"source": "baseline run x", "model": f"anthropic:{MODEL}", "split": "validation", "n": 100,
                "tokens_per_example": 40.0, "cost_per_example_usd": 0.0003, "accuracy": 0.8, "mcc": 0.5}
    be = break_even(ledger, baseline)
    assert be["examples_by_tokens"] == 1250 and be["examples_by_cost"] == 1000
    assert break_even(ledger, None) is None


def test_break_even_says_what_it_compares():
    """A free creator was told '0 examples to repay its $0.0000'; a baseline of another model than the
    creator was used without a word; a baseline that classified no example cost 'unknown (no price)' each."""
    from rich.console import Console

    from engine.summary import llm_rows, print_baseline

    baseline = {"source": "baseline run x", "model": f"anthropic:{MODEL}", "split": "validation", "n": 100,
                "tokens_per_example": 40.0, "cost_per_example_usd": 0.0003, "accuracy": 0.8, "mcc": 0.5}
    free = {"total": 50_000, "cost_usd": 0.0, "priced": True, "calls": 3}
    be = break_even(free, baseline, "ollama:qwen2.5-coder:32b")
    text = dict(llm_rows({"ledger": {}, "break_even": be, "best": {}}))["break-even"]
    assert be["examples_by_cost"] is None and "repay its $0" not in text and "its creation cost no money" in text
    assert f"anthropic:{MODEL} on validation" in text and "not the creator's model ollama:qwen2.5-coder:32b" in text
    assert break_even(free, baseline, f"anthropic:{MODEL}")["other_model"] is None
    console = Console(record=True, width=200)
    print_baseline({"run_id": "b", "model": f"anthropic:{MODEL}", "task": "cola", "split": "validation", "n": 0,
                    "batch_size": 20, "unparsed": 0, "accuracy": None, "majority_accuracy": None, "mcc": None,
                    "tokens": {"total": 0}, "calls": 0, "tokens_per_example": None, "cost_usd": 0.0,
                    "cost_per_example_usd": None}, console)
    shown = console.export_text()
    assert "no example classified" in shown and "no price" not in shown


def config(**kw) -> RunConfig:
    base = dict(task="cola", iters=6, batch=1, proposer="anthropic", creator=f"anthropic:{MODEL}", sandbox="local",
                workers=1, llm_timeout_s=5.0)
    return RunConfig(**{**base, **kw})


def skill_reply(_api, body):
    prompt = body["messages"][-1]["content"]
    return anthropic_message(block(SKILL_D), MODEL, approx_tokens(prompt), 400)


def store_baseline(store, tokens_per_example=50.0):
    store.start_run("baseline-1", "cola", {"kind": "baseline", "model": MODEL}, "none (baseline)")
    store.finish_run("baseline-1", "finished", {"kind": "baseline", "model": f"anthropic:{MODEL}", "split": "validation",
                                                "n": 40, "tokens_per_example": tokens_per_example,
                                                "cost_per_example_usd": 0.0004, "accuracy": 0.8, "mcc": 0.5})


def test_max_cost_stops_the_run_cleanly(anthropic_env, cola, local_backend, store):
    server = anthropic_env
    server.responder = skill_reply  # every answer the same good skill: one sandbox run, then duplicates
    store_baseline(store)
    budget = 0.15
    cfg = config(max_cost_usd=budget, iters=12)
    proposer = build_llm_proposer(cfg, retry=FAST)
    run = Run(cfg, cola, local_backend, proposer, store)
    summary = run.execute()
    calls = len(server.chats("anthropic"))
    costs = [c.cost_usd for c in proposer.ledger.calls]
    assert summary["stop_reason"] and summary["stop_reason"].startswith("max cost reached"), (summary["ledger"], costs)
    assert "the next call could cost up to about $0.0" in summary["stop_reason"]
    # a cap: never crossed; the next call (its prompt and 4,096 tokens out) would have crossed it
    last = server.chats("anthropic")[-1].body  # the next prompt is about as long as the last
    next_call = call_bound("anthropic", MODEL, len(last["system"]) + len(last["messages"][-1]["content"]), 4096)
    assert sum(costs) <= budget < sum(costs) + next_call * 1.2, (costs, next_call)
    assert summary["ledger"]["cost_usd"] == pytest.approx(sum(costs), abs=1e-6)
    assert summary["candidates"] == calls == len(costs) < cfg.iters, (summary["candidates"], calls, costs)
    row = store.run(run.run_id)
    assert row["status"] == "stopped" and len(store.candidates(run.run_id)) == calls
    be = summary["break_even"]  # the store's last baseline run
    assert be["baseline"]["source"] == "baseline run baseline-1"
    assert be["examples_by_tokens"] == -(-summary["ledger"]["total"] // 50)

    # resumed, the run still knows what it spent: it stops again before any call, totals unchanged
    resumed = Run.resume(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store, run.run_id).execute()
    assert resumed["stop_reason"].startswith("max cost reached") and len(server.chats("anthropic")) == calls
    assert resumed["ledger"]["cost_usd"] == summary["ledger"]["cost_usd"]
    assert resumed["ledger"]["per_call"] == summary["ledger"]["per_call"]
    assert resumed["llm"]["models"] == summary["llm"]["models"]  # answers per model: the whole run's too
    assert resumed["wall_s"] >= summary["wall_s"] > 0  # and its wall time


def test_a_provider_crash_fails_the_run_in_one_line_and_keeps_its_candidates(anthropic_env, cola, local_backend, store):
    server = anthropic_env
    server.push("anthropic", anthropic_message(block(SKILL_D)), anthropic_message(block(SKILL_D.replace("THRESHOLD = 1", "THRESHOLD = 2"))),
                anthropic_error(400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"))
    cfg = config()
    with pytest.raises(SkillkilnError) as info:
        Run(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store).execute()
    assert "prompt is too long" in str(info.value)
    row = store.runs()[0]
    assert row["status"] == "failed" and len(store.candidates(row["id"])) == 2
    summary = json.loads(row["summary"])
    assert "prompt is too long" in summary["error"] and "\n" not in summary["error"]
    assert summary["ledger"]["calls"] == 2
    # two answers came, so two proposals: the call that failed proposed nothing (it counted as a third)
    assert [m["created"] for m in summary["llm"]["models"].values()] == [2]


def test_best_of_n_samples_the_first_prompt_only(anthropic_env, cola, local_backend, store):
    server = anthropic_env
    server.responder = skill_reply
    for strategy in ("evolve", "best-of-n"):
        cfg = config(iters=3, strategy=strategy)
        summary = Run(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store).execute()
        assert summary["strategy"] == strategy
    prompts = [s.body["messages"][-1]["content"] for s in server.chats("anthropic")]
    evolve, best_of_n = prompts[:3], prompts[3:]
    assert "### Parent 1" in evolve[1]  # evolution shows what scored
    assert all("### Parent" not in p and "gate said" not in p for p in best_of_n)
    assert len({p for p in best_of_n}) >= 2  # independent samples: the seed varies the few-shots


def test_baseline_command_stores_tokens_per_example(anthropic_env, tmp_path):
    server = anthropic_env
    from engine.proposers.llm import DEFAULT_MODELS

    model = DEFAULT_MODELS["anthropic"]  # `--proposer anthropic` with no model: the default, which must be priced

    def annotate(_api, body):
        prompt = body["messages"][-1]["content"]
        numbers = [line.split(":", 1)[0] for line in prompt.splitlines() if line[:1].isdigit()]
        text = "\n".join(f"{n}: {1 if int(n) % 3 else 0}" for n in numbers)
        return anthropic_message(text, model, approx_tokens(prompt), approx_tokens(text))

    server.responder = annotate
    path = tmp_path / "s.sqlite"
    from click.testing import CliRunner

    from engine.cli import cli

    done = CliRunner().invoke(cli, ["baseline", "--task", "cola", "--split", "validation", "--proposer", "anthropic",
                                    "--limit", "12", "--batch-size", "4", "--store", str(path), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["n"] == 12 and result["calls"] == 3 and result["unparsed"] == 0
    assert result["model"] == f"anthropic:{model}" and 0 <= result["accuracy"] <= 1
    assert result["tokens_per_example"] == pytest.approx(result["tokens"]["total"] / 12, abs=1e-3)
    assert result["cost_per_example_usd"] > 0
    from skills_store.store import Store

    found = find_baseline(Store(path), "cola", f"anthropic:{model}")
    assert found["tokens_per_example"] == result["tokens_per_example"] and found["source"].startswith("baseline run ")
    # a model that never names a label: a failed run, one line, and no baseline for break-even
    server.responder = lambda _api, body: anthropic_message("I would rather not say.", model, 50, 5)
    prose = CliRunner().invoke(cli, ["baseline", "--task", "cola", "--split", "validation", "--proposer", "anthropic",
                                     "--limit", "4", "--store", str(path)])
    assert isinstance(prose.exception, SkillkilnError)  # `skillkiln` prints it as one line, exit 2
    assert "none of" in str(prose.exception) and "answers named a label" in str(prose.exception)
    store = Store(path)
    assert sorted(r["status"] for r in store.runs()) == ["failed", "finished"]
    assert find_baseline(store, "cola", f"anthropic:{model}")["source"] == found["source"]  # still the good one
    # a provider that fails part way: the answers paid for before it are stored with the failed run
    server.responder = None
    server.push("anthropic", anthropic_message("1: 1\n2: 0", model, 80, 8),
                anthropic_error(400, "invalid_request_error", "prompt is too long"))
    broken = CliRunner().invoke(cli, ["baseline", "--task", "cola", "--split", "validation", "--proposer", "anthropic",
                                      "--limit", "6", "--batch-size", "2", "--llm-retries", "0", "--store", str(path)])
    assert isinstance(broken.exception, SkillkilnError) and "prompt is too long after 2 examples" in str(broken.exception)
    failed = json.loads(store.run(broken.exception.run_id)["summary"])
    assert failed["n"] == 2 and failed["tokens"]["total"] == 88 and "prompt is too long" in failed["error"]
    assert find_baseline(store, "cola", f"anthropic:{model}")["source"] == found["source"]


def test_no_break_even_when_no_skill_was_accepted(anthropic_env, cola, local_backend, store):
    server = anthropic_env
    server.responder = lambda _api, body: anthropic_message(block("def solve(text):\n    return 1\n"), MODEL, 100, 20)
    store_baseline(store)
    cfg = config(iters=2)
    summary = Run(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store).execute()
    assert summary["accepted_count"] == 0 and summary["ledger"]["calls"] >= 1
    assert summary["break_even"] is None


def test_a_run_killed_before_its_summary_counts_its_candidates_tokens():
    candidates = [{"proposer": "anthropic", "model": MODEL, "prompt_tokens": 1000, "completion_tokens": 200},
                  {"proposer": "anthropic", "model": MODEL, "prompt_tokens": 0, "completion_tokens": 0}]
    calls = Ledger.earlier_calls({}, candidates)
    assert [(c.key, c.prompt, c.completion) for c in calls] == [(f"anthropic:{MODEL}", 1000, 200)]
    assert calls[0].cost_usd == cost_of("anthropic", MODEL, TokenUsage(1000, 200))
    stored = {"ledger": {"per_call": [["repairer", "ollama:qwen2.5-coder:32b", 10, 5, 0.0]]}}
    assert [(c.role, c.provider, c.model) for c in Ledger.earlier_calls(stored, candidates)] == [
        ("repairer", "ollama", "qwen2.5-coder:32b")]


def test_a_provider_crash_on_the_command_line_says_how_to_resume_and_writes_the_report(anthropic_env, tmp_path):
    from llm_helpers import run_cli

    server = anthropic_env
    server.push("anthropic", anthropic_message(block(SKILL_D)),
                anthropic_error(400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"))
    store = tmp_path / "s.sqlite"
    done = run_cli("evolve", "--task", "cola", "--iters", "4", "--proposer", "anthropic", "--model", MODEL,
                   "--store", str(store), "--sandbox", "local", "--llm-retries", "0", "--json")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "prompt is too long" in error[0]
    run_id = error[0].split("(run ", 1)[1].split()[0]
    said = json.loads(done.stdout)  # --json: the failure is one JSON object too, naming the stored run
    assert said["run_id"] == run_id and said["exit_code"] == 2 and "prompt is too long" in said["error"]
    assert f"`evolve --resume {run_id}`" in error[0] and "stored as failed with its 1 candidate;" in error[0]
    report = (tmp_path / "reports" / f"{run_id}.html").read_text()
    assert "<tr><td>error</td><td>" in report and "prompt is too long" in report  # why it failed
    assert "<tr><td>ledger</td><td>" in report and "1,500 tokens in 1 call " in report  # the 400 cost nothing
    assert "1,500 in 1 model call (1,500 on the stored candidates)" in report and "[red]" not in report
    shown = run_cli("skills", "runs", "show", run_id, "--store", str(store))
    assert "error: anthropic:" in shown.stdout and "prompt is too long" in shown.stdout


def test_a_run_failed_on_its_server_resumes_with_new_retries_timeout_and_cap(anthropic_env, tmp_path):
    """The failure says `evolve --resume` continues the run once the problem is fixed: a new --llm-retries,
    --llm-timeout and --max-cost-usd given with --resume replace the run's own (they were ignored), and stay."""
    from llm_helpers import run_cli

    server = anthropic_env
    overloaded = anthropic_error(529, "overloaded_error", "Overloaded")
    server.push("anthropic", anthropic_message(block(SKILL_D)), overloaded)
    store = tmp_path / "s.sqlite"
    common = ("--store", str(store), "--json")
    done = run_cli("evolve", "--task", "cola", "--iters", "2", "--proposer", "anthropic", "--model", MODEL,
                   "--sandbox", "local", "--llm-retries", "0", *common)
    assert done.returncode == 2 and "Overloaded (no retries: --llm-retries 0)" in done.stderr  # not "1 attempts"
    run_id = json.loads(done.stdout)["run_id"]
    server.push("anthropic", overloaded, anthropic_message(block(SKILL_D)))  # one retry gets through
    resumed = run_cli("evolve", "--resume", run_id, "--llm-retries", "1", "--llm-timeout", "30",
                      "--max-cost-usd", "5", *common)
    assert resumed.returncode == 0, resumed.stderr
    assert "ignoring" not in resumed.stderr
    assert f"run {run_id} goes on with --max-cost-usd 5.0 (was unset), --llm-timeout 30.0 (was 300.0), " \
           "--llm-retries 1 (was 0)" in " ".join(resumed.stderr.split())
    assert json.loads(resumed.stdout)["candidates"] == 2 and len(server.chats("anthropic")) == 4
    config = json.loads(run_cli("skills", "runs", "show", run_id, "--store", str(store), "--json").stdout)["config"]
    assert (config["llm_retries"], config["llm_timeout_s"], config["max_cost_usd"]) == (1, 30.0, 5.0)


def test_a_resume_whose_new_cap_cannot_be_priced_leaves_the_run_as_it_was(anthropic_env, tmp_path):
    """--max-cost-usd on a resume of a run whose model has no price is refused, and the run is not changed:
    the cap was stored before the price check, and the run could never be resumed again."""
    from llm_helpers import run_cli

    server = anthropic_env
    server.push("anthropic", anthropic_message(block(SKILL_D), "claude-unpriced-9"),
                anthropic_error(529, "overloaded_error", "Overloaded"))
    store = tmp_path / "s.sqlite"
    done = run_cli("evolve", "--task", "cola", "--iters", "2", "--proposer", "anthropic", "--model", "claude-unpriced-9",
                   "--sandbox", "local", "--llm-retries", "0", "--store", str(store), "--json")
    run_id = json.loads(done.stdout)["run_id"]
    refused = run_cli("evolve", "--resume", run_id, "--max-cost-usd", "1", "--store", str(store))
    assert refused.returncode == 2 and "needs a price for anthropic:claude-unpriced-9" in refused.stderr
    config = json.loads(run_cli("skills", "runs", "show", run_id, "--store", str(store), "--json").stdout)["config"]
    assert config["max_cost_usd"] is None
    server.push("anthropic", anthropic_message(block(SKILL_D), "claude-unpriced-9"))
    assert run_cli("evolve", "--resume", run_id, "--store", str(store)).returncode == 0


def test_an_answer_paid_for_before_a_failed_repair_call_is_stored(anthropic_env, cola, local_backend, store):
    server = anthropic_env
    server.push("anthropic", anthropic_message("I would write a rule skill here, but no code today.", MODEL, 900, 60),
                anthropic_error(400, "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"))
    cfg = config()
    with pytest.raises(SkillkilnError, match="prompt is too long"):
        Run(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store).execute()
    row = store.runs()[0]
    stored = store.candidates(row["id"])
    assert len(stored) == 1 and (stored[0]["prompt_tokens"], stored[0]["completion_tokens"]) == (900, 60)
    assert "repair call failed" in stored[0]["note"] and not stored[0]["accepted"]
    summary = json.loads(row["summary"])
    assert summary["candidates"] == 1 and summary["llm"]["models"][f"anthropic:{MODEL}"]["failed_after_repair"] == 1


def test_a_ctrl_c_in_a_repair_call_is_repaired_on_resume_with_the_answer_paid_for(anthropic_env, cola, local_backend,
                                                                                   store):
    """Ctrl-C during the repair call: the creator's answer, booked with its request, is taken again by the
    resumed run (it asked the creator again and paid twice, or judged the answer unrepaired), which asks
    for the repair; the answer counts are the whole run's, each answer once."""
    server = anthropic_env
    server.push("anthropic", anthropic_message("I would write a rule skill here, but no code today.", MODEL, 900, 60))
    cfg = config(iters=1)
    proposer = build_llm_proposer(cfg, retry=FAST)

    class CtrlC:  # the repairer, interrupted as a Ctrl-C interrupts the SDK mid-request
        provider, model = proposer.repairer.provider, proposer.repairer.model

        def complete(self, *args, **kwargs):
            raise KeyboardInterrupt

    proposer.repairer = CtrlC()
    from sandbox.local_backend import LocalBackend

    own = LocalBackend(workers=1)  # an interrupted run closes its sandbox: not the session's
    run = Run(cfg, cola, own, proposer, store)
    with pytest.raises(KeyboardInterrupt):
        run.execute()
    own.close()
    assert store.candidates(run.run_id) == [] and len(store.calls(run.run_id)) == 1
    server.push("anthropic", anthropic_message(block(SKILL_D), MODEL, 500, 50))  # the repair
    summary = Run.resume(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store, run.run_id).execute()
    chats = server.chats("anthropic")
    assert len(chats) == 2 and "no code today" in chats[1].body["messages"][-1]["content"]  # the repair of that answer
    stored = store.candidates(run.run_id)
    assert len(stored) == 1 and (stored[0]["prompt_tokens"], stored[0]["completion_tokens"]) == (1400, 110)
    assert "repaired by" in stored[0]["note"]
    assert summary["ledger"]["calls"] == 2 and summary["candidates"] == 1
    counts = summary["llm"]["models"][f"anthropic:{MODEL}"]
    assert (counts["answers"], counts["created"], counts["first_failures"], counts["repaired"]) == (2, 1, 1, 1)
    with store.transaction() as db:  # a pending row that is JSON but no proposal is asked for again, not a crash
        db.execute("INSERT INTO pending (run_id, iteration, slot, proposal) VALUES (?, 0, 0, 'null')", (run.run_id,))
    assert store.pending(run.run_id, 0) == {}  # what a resume of iteration 0 would judge: nothing


def test_answers_without_token_counts_still_reach_the_cost_cap(anthropic_env, cola, local_backend, store):
    """A server that sends no usage: each answer was booked at 0 tokens and $0, so --max-cost-usd never
    stopped the run; now its counts are estimated, the cap stops the run, and the summary says so."""
    from engine.summary import llm_rows

    server = anthropic_env
    for _ in range(6):
        reply = anthropic_message(block(SKILL_D), MODEL)
        reply.body.pop("usage")
        server.push("anthropic", reply)
    cfg = config(max_cost_usd=0.1)  # a call's bound is about $0.09 (4,096 tokens out), each estimated answer $0.01
    summary = Run(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store).execute()
    assert summary["stop_reason"].startswith("max cost reached") and len(server.chats("anthropic")) < 6
    assert 0 < summary["ledger"]["cost_usd"] <= 0.1
    answers = dict(llm_rows(summary))["answers"]
    assert f"{len(server.chats('anthropic'))} without token counts from the server" in answers


def test_a_budget_that_cannot_pay_for_the_repair_stops_and_keeps_the_answer(anthropic_env, cola, local_backend, store):
    server = anthropic_env
    server.push("anthropic", anthropic_message("I would write a rule skill here, but no code today.", MODEL, 900, 2000))
    # room for the first call's bound (its prompt and 4,096 tokens out: about $0.09); after its $0.0436, none
    # for the repair's
    cfg = config(max_cost_usd=0.1)
    summary = Run(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store).execute()
    assert len(server.chats("anthropic")) == 1 and summary["stop_reason"].startswith("max cost reached")
    stored = store.candidates(store.runs()[0]["id"])
    assert len(stored) == 1 and (stored[0]["prompt_tokens"], stored[0]["completion_tokens"]) == (900, 2000)
    assert "no repair: the run stopped" in stored[0]["note"] and not stored[0]["accepted"]
    assert summary["candidates"] == 1 and summary["ledger"]["cost_usd"] == pytest.approx(0.0436)


def test_baseline_scores_many_labels_as_the_gate_does_and_refuses_spans(anthropic_env, tmp_path):
    """Three labels: the gate's multiclass MCC (R_K), not 'the last label against the rest'; a span
    task is refused before any call or stored run."""
    from click.testing import CliRunner

    from engine.cli import cli
    from engine.gate import GateConfig, score_labels
    from engine.proposers.llm import DEFAULT_MODELS
    from skills_store.store import Store
    from tasks import load_task

    server = anthropic_env
    model = DEFAULT_MODELS["anthropic"]
    rows = [json.dumps({"text": f"item{i % 3} text {i}", "label": i % 3}) for i in range(450)]
    data = tmp_path / "three.jsonl"
    data.write_text("\n".join(rows) + "\n")

    def answer(_api, body):  # label 0 right, labels 1 and 2 both called 2
        prompt = body["messages"][-1]["content"]
        lines = [line for line in prompt.splitlines() if line[:1].isdigit() and "'item" in line]
        text = "\n".join(f"{line.split(':', 1)[0]}: {0 if 'item0' in line else 2}" for line in lines)
        return anthropic_message(text, model, approx_tokens(prompt), approx_tokens(text))

    server.responder = answer
    path = tmp_path / "s.sqlite"
    done = CliRunner().invoke(cli, ["baseline", "--task", f"file:{data}", "--split", "validation", "--proposer",
                                    "anthropic", "--batch-size", "10", "--store", str(path), "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    task = load_task(f"file:{data}")
    labels = task.split("validation").labels
    expected = score_labels(task, labels, [0 if y == 0 else 2 for y in labels], GateConfig())
    assert result["n"] == len(labels) and result["unparsed"] == 0
    assert result["mcc"] == pytest.approx(expected.mcc) and result["accuracy"] == pytest.approx(expected.accuracy)
    assert 0.55 < result["mcc"] < 0.7  # R_K; 'label 2 against the rest' gave 0.5

    calls = len(server.chats("anthropic"))
    spans = CliRunner().invoke(cli, ["baseline", "--task", "pii", "--proposer", "anthropic", "--store", str(path)])
    assert isinstance(spans.exception, SkillkilnError) and "pii is a spans task" in str(spans.exception)
    assert len(Store(path).runs()) == 1 and len(server.chats("anthropic")) == calls  # no call, nothing stored


def test_nan_and_inf_are_refused_and_a_broken_baseline_gives_no_break_even(tmp_path):
    """--max-cost-usd nan was no cap at all (every comparison with NaN is false) and printed bare NaN
    in --json; a NaN or negative baseline broke the summary after the run had finished."""
    from test_cli import one_line_error, run

    from engine.ledger import break_even

    for flag in ("--max-cost-usd", "--baseline-tokens-per-example", "--llm-timeout"):
        for value in ("nan", "inf", "-inf"):
            done = run("evolve", "--task", "cola", "--proposer", "anthropic", flag, value,
                       "--store", str(tmp_path / "s.sqlite"))
            line = one_line_error(done)  # -inf is below the range already
            assert done.returncode == 2 and ("is not a finite number" in line or "is not in the range" in line), line
    spent = {"total": 1000, "cost_usd": 0.01, "priced": True}
    for per_example in (float("nan"), 0, -5, "lots", None):
        assert break_even(spent, {"tokens_per_example": per_example, "source": "x"}) is None
    assert break_even(spent, {"tokens_per_example": 250.0, "cost_per_example_usd": float("nan"),
                              "source": "x"})["examples_by_cost"] is None
    assert break_even(spent, {"tokens_per_example": 250.0, "source": "x"})["examples_by_tokens"] == 4


def test_an_interrupted_baseline_keeps_the_answers_it_paid_for(server, tmp_path):
    """Ctrl-C after some answers: the run is stored as interrupted with them (it was stored as a failed
    run holding nothing), and the message names the baseline, not `evolve --resume`."""
    import dataclasses
    import os
    import signal
    import sqlite3
    import subprocess
    import time

    from test_cli import BIN

    def slow(_api, body):
        prompt = body["messages"][-1]["content"]
        numbers = [line.split(":", 1)[0] for line in prompt.splitlines() if line[:1].isdigit()]
        reply = anthropic_message("\n".join(f"{n}: 1" for n in numbers), "claude-opus-5-5", 100, 5)
        return dataclasses.replace(reply, delay=0.7)

    server.responder = slow
    store = tmp_path / "s.sqlite"
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-ant-fake", "ANTHROPIC_BASE_URL": server.url}
    proc = subprocess.Popen([str(BIN / "skillkiln"), "baseline", "--task", "cola", "--proposer", "anthropic",
                             "--limit", "40", "--store", str(store)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while len(server.chats("anthropic")) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    status, summary = sqlite3.connect(store).execute("SELECT status, summary FROM runs").fetchone()
    summary = json.loads(summary)
    assert status == "interrupted" and summary["n"] >= 2 and summary["tokens"]["total"] == 105 * summary["n"]
    assert f"interrupted: baseline {summary['run_id']} is stored with its {summary['n']} answers" in err
    assert "evolve --resume" not in err


def test_the_tokens_row_says_what_the_ledger_counts_beyond_the_candidates():
    """A creator's answer whose repair a Ctrl-C cut off is in the ledger but never stored: the row says so."""
    from engine.summary import tokens_line

    summary = {"tokens": {"total": 960, "prompt": 900, "completion": 60}, "proposer": "anthropic", "model": MODEL,
               "ledger": {"calls": 2, "total": 1_500}}
    line = tokens_line(summary)
    assert line.startswith("960 on the stored candidates (900 prompt, 60 completion)")
    assert "540 more in the ledger, on answers that never became a candidate" in line
    assert "more in the ledger" not in tokens_line({**summary, "ledger": {"calls": 1, "total": 960}})
    assert "more in the ledger" not in tokens_line({**summary, "ledger": {}})  # the offline proposer: no ledger


def test_a_lone_surrogate_and_an_absurd_token_count_are_handled_at_the_boundary():
    """LLM audit: a model cut off mid-emoji sent a lone '\\ud83d' (legal JSON), and hashing the answer for the store
    failed with exit 3; a count of 10**30 tokens overflowed SQLite's INTEGER, exit 3 too."""
    from engine.proposers.llm import Completion
    from skills_store.store import sha256

    answer = Completion("def solve(text):\n    return 1  # \ud83d", TokenUsage(5, 7), "m")
    assert answer.text.endswith("# \ufffd") and sha256(answer.text)  # kept, and now UTF-8
    assert Completion("an emoji \U0001f600", TokenUsage(1, 1), "m").text == "an emoji \U0001f600"
    for prompt, completion in ((10**30, 1), (1, float(10**30)), (2**63, 0)):
        with pytest.raises(ValueError, match="whole numbers from 0 to"):
            TokenUsage.counted(prompt, completion)
    assert TokenUsage.counted(10**9, 0) == TokenUsage(10**9, 0)


def test_a_resume_takes_the_answers_it_paid_for_though_the_budget_could_not_buy_them_again(
        anthropic_env, cola, local_backend, store):
    """Ctrl-C right after a repair answer was booked, then --resume: the resume asks the same two requests
    again and takes their booked answers, which cost nothing more. The budget's check of a call's bound (its
    prompt and 4,096 tokens out) stopped the resume before the first of them, so the money spent on both
    answers bought no candidate."""
    server = anthropic_env
    server.push("anthropic", anthropic_message("I would write a rule skill here, but no code today.", MODEL, 900, 500))
    server.push("anthropic", anthropic_message(block(SKILL_D), MODEL, 900, 1000))
    from sandbox.local_backend import LocalBackend

    cfg = config(max_cost_usd=0.12, iters=2)
    own = LocalBackend(workers=1)  # an interrupted run closes its sandbox
    run = Run(cfg, cola, own, build_llm_proposer(cfg, retry=FAST), store)
    book = run.ledger.sink

    def booked_then_ctrl_c(call, *rest):
        book(call, *rest)
        if call.role == "repairer":
            raise KeyboardInterrupt

    run.ledger.sink = booked_then_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        run.execute()
    own.close()
    chats = server.chats("anthropic")
    spent = sum(c["cost_usd"] for c in store.calls(run.run_id))
    assert len(chats) == 2 and spent == pytest.approx(0.0136 + 0.0236) and not store.candidates(run.run_id)
    first = chats[0].body
    creator_bound = call_bound("anthropic", MODEL, len(first["system"]) + len(first["messages"][-1]["content"]), 4096)
    assert spent + creator_bound > cfg.max_cost_usd  # the budget could not pay for the creator's call again

    resumed = Run.resume(cfg, cola, local_backend, build_llm_proposer(cfg, retry=FAST), store, run.run_id).execute()
    assert len(server.chats("anthropic")) == 2  # nothing asked again
    (candidate,) = store.candidates(run.run_id)
    assert candidate["iteration"] == 0 and "repaired by anthropic:" in candidate["note"], candidate["note"]
    assert resumed["stop_reason"].startswith("max cost reached")  # then iteration 1 could not be paid for
    assert resumed["ledger"]["cost_usd"] == pytest.approx(spent) and resumed["ledger"]["calls"] == 2
