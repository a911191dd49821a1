"""LLMProposer: prompts, the repair round with another model, SEARCH/REPLACE, think blocks, stats."""
from __future__ import annotations

import random

from engine import prompts
from engine.ledger import Ledger
from engine.proposers.anthropic_provider import AnthropicModel
from engine.proposers.llm import LLMProposer
from engine.proposers.ollama_provider import OllamaModel
from fake_servers import anthropic_message, ollama_chat
from llm_helpers import FAST, PARENT_CODE, server, toy_card, toy_context  # noqa: F401 - fixtures
from sandbox.backend import ALLOWED_IMPORTS
from sandbox.static import MAX_SOURCE_BYTES, check_source

GOOD = "```python\nimport re\n\n\ndef solve(text):\n    return 0 if re.search(r'\\bthe the\\b', text) else 1\n```"


def hybrid(server) -> LLMProposer:
    creator = AnthropicModel("claude-opus-5-5", api_key="sk-ant-fake", base_url=server.url, timeout_s=5, retry=FAST)
    repairer = OllamaModel("llama3.2:3b", host=server.url, timeout_s=5, retry=FAST)
    return LLMProposer(creator, repairer, name="anthropic", ledger=Ledger())


def test_the_prompt_holds_the_task_card_few_shots_parents_misses_and_feedback():
    card = toy_card()
    ctx = toy_context(card, reasons=("constant_output:train", "crash:validation"))
    prompt = prompts.proposal_prompt(ctx, details={"constant_output:train": "98.0% of outputs are 1 (limit 97%)",
                                                   "crash:validation": "1 of 857 failed on 'a validation text'"})
    text = prompt.user
    assert all(name in text for name in ALLOWED_IMPORTS) and str(MAX_SOURCE_BYTES) in text
    assert "no names starting with `_`" in text and "def solve(text):" in text
    assert text.count("### Example") in (2, 3)
    assert "### Parent 1 (train MCC 0.120, validation MCC 0.100)" in text and PARENT_CODE.strip() in text
    misses = [line for line in text.splitlines() if line.startswith("- label ")]
    assert 6 <= len(misses) <= 12 and all(line.startswith("- label 0") for line in misses)  # parent 1 misses only 0s
    lengths = sorted(len(line) for line in misses)
    assert lengths[0] < lengths[-1]  # spread over lengths
    assert "constant_output:train" in text and "98.0% of outputs" in text
    assert "SEARCH" in text and prompt.parent_code == PARENT_CODE
    # the same context gives the same prompt; another seed another draw
    assert prompts.proposal_prompt(ctx).user == prompts.proposal_prompt(ctx).user


def test_the_prompt_shows_the_elites_largest_failure_clusters_and_keeps_a_specialist():
    """Issue 7: proposers get representative examples of the largest unsolved clusters; a specialist offered
    as a parent is never the one the prompt cuts (it was, three times in four)."""
    from dataclasses import replace

    from engine.evidence import analyse
    from engine.proposers.base import ParentInfo

    card = toy_card(120)
    ctx = toy_context(card)
    texts = [e.text for e in card.train.examples]
    labels = [e.label for e in card.train.examples]
    evidence = analyse(texts, labels, ctx.parents[0].train_predictions)
    specialist = ParentInfo("p4", "def solve(text):\n    return 0 if 'cat' in text else 1\n", ctx.parents[0].train_predictions,
                            0.01, None, specialist=True)
    parents = ctx.parents + (ParentInfo("p3", PARENT_CODE + "\n# three\n", ctx.parents[0].train_predictions, 0.04),
                             specialist)
    text = prompts.proposal_prompt(replace(ctx, evidence=evidence, parents=parents)).user
    assert "## Where the best skill so far fails" in text
    groups = [line for line in text.splitlines() if line.startswith("Group ")]
    unsolved = evidence.unsolved()
    assert len(groups) == min(3, len(unsolved)) and groups[0].startswith(f"Group 1: {unsolved[0].size} examples")
    nearest = texts[unsolved[0].indices[0]]
    assert f"(said 1): {nearest!r}" in text  # the example nearest the largest cluster's centre
    assert "### Parent 3 (train MCC 0.010, validation MCC -; kept as a specialist" in text and "# three" not in text
    assert "Where the best skill so far fails" not in prompts.proposal_prompt(ctx).user  # no elite yet: no section


def test_feedback_names_candidates_by_iteration_not_by_run_id():
    """Two runs whose gate said the same thing get the same feedback, so a replay's prompts match."""
    said = [prompts.feedback_section(["same_behaviour"], {"same_behaviour": f"the same output as candidate {run}-006-1 on all "
                                                                         "400 texts of the train subset"})
            for run in ("20261206-220750-1847ec", "20261207-101010-abcdef")]
    assert said[0] == said[1] and "the same output as the candidate of iteration 6 (slot 1) on all 400" in said[0]


def test_misclassified_examples_spread_over_labels_and_lengths():
    card = toy_card(200)
    preds = tuple(1 - e.label for e in card.train.examples)  # wrong everywhere
    picked = prompts.pick_misclassified(card, preds, random.Random(1))
    labels = {card.train.examples[i].label for i, _ in picked}
    assert 6 <= len(picked) <= 12 and labels == {0, 1}
    lengths = [len(card.train.examples[i].text) for i, _ in picked]
    assert max(lengths) - min(lengths) > 10


def test_best_of_n_shows_only_the_first_prompt():
    ctx = toy_context(toy_card(), reasons=("mcc_floor:validation",))
    text = prompts.proposal_prompt(ctx, strategy="best-of-n").user
    assert "Parent" not in text and "misclassified" not in text.lower() and "gate said" not in text
    assert prompts.FIRST_TASK in text


def test_stored_skills_can_replace_the_built_in_few_shots():
    ctx = toy_context(toy_card(), with_parent=False)
    stored = ["def solve(text):\n    return int('x' in text)  # stored-skill-1\n",
              "def solve(text):\n    return int('y' in text)  # stored-skill-2\n"]
    text = prompts.proposal_prompt(ctx, examples=stored).user
    assert "stored-skill-1" in text and "stored-skill-2" in text
    for example in prompts.builtin_examples((0, 1)):  # the built-in ones pass the static gate
        assert check_source(example).ok


def test_an_unparseable_answer_gets_one_repair_round_from_the_repairer(server):
    server.push("anthropic", anthropic_message("I would check agreement and word order.", input_tokens=900, output_tokens=12))
    server.push("ollama", ollama_chat(GOOD, "llama3.2:3b", 400, 40))
    proposer = hybrid(server)
    proposal = proposer.propose(toy_context(toy_card(), with_parent=False))
    assert check_source(proposal.code).ok and "the the" in proposal.code
    assert proposal.usage.prompt == 1300 and proposal.usage.completion == 52
    assert "no_code" in proposal.note and "repaired by ollama:llama3.2:3b" in proposal.note
    repair_prompt = server.chats("ollama")[0].body["messages"][-1]["content"]
    assert "the answer holds no ```python code block" in repair_prompt  # the exact error, shown
    assert "I would check agreement" in repair_prompt
    ledger = proposer.ledger.summary()
    assert ledger["by_model"]["anthropic:claude-opus-5-5"]["roles"] == {"creator": 1}
    assert ledger["by_model"]["ollama:llama3.2:3b"]["roles"] == {"repairer": 1}
    assert ledger["cost_usd"] == round((900 * 4 + 12 * 20) / 1e6, 6)
    stats = proposer.stats()["models"]
    assert stats["anthropic:claude-opus-5-5"]["first_failures"] == 1
    assert stats["anthropic:claude-opus-5-5"]["kinds"] == {"no_code": 1}
    assert stats["ollama:llama3.2:3b"]["repairs"] == 1 and stats["ollama:llama3.2:3b"]["repaired"] == 1


def test_an_unrepairable_answer_still_becomes_a_candidate_that_fails_the_gate(server):
    server.push("anthropic", anthropic_message("```python\ndef solve(text)\n    return 1\n```"))
    server.push("ollama", ollama_chat("The code is correct as written."))
    proposer = hybrid(server)
    proposal = proposer.propose(toy_context(toy_card(), with_parent=False))
    assert check_source(proposal.code).reason == "syntax"
    assert "repair by ollama:llama3.2:3b failed" in proposal.note
    assert proposer.stats()["models"]["anthropic:claude-opus-5-5"]["failed_after_repair"] == 1
    repair_prompt = server.chats("ollama")[0].body["messages"][-1]["content"]
    assert "syntax: line 1: expected ':'" in repair_prompt and "def solve(text)" in repair_prompt


def test_search_replace_edits_of_parent_1(server):
    server.push("anthropic", anthropic_message("<<<<<<< SEARCH\nTHRESHOLD = 1\n=======\nTHRESHOLD = 2\n>>>>>>> REPLACE"))
    proposer = hybrid(server)
    proposal = proposer.propose(toy_context(toy_card()))
    assert proposal.code == PARENT_CODE.replace("THRESHOLD = 1", "THRESHOLD = 2")
    assert proposal.parent_ids == ("p1", "p2") and "edits ok" in proposal.note
    assert proposer.stats()["models"]["anthropic:claude-opus-5-5"]["edits"] == 1
    assert not server.chats("ollama")  # no repair needed


def test_think_blocks_of_reasoning_models_are_stripped(server):
    answer = "<think>\nMaybe ```python\ndef solve(text):\n    return 1\n```? No, that is constant.\n</think>\n" + GOOD
    server.push("ollama", ollama_chat(answer, "deepseek-r1:70b", 500, 800))
    model = OllamaModel("deepseek-r1:70b", host=server.url, timeout_s=5, retry=FAST)
    proposer = LLMProposer(model, name="ollama")
    proposal = proposer.propose(toy_context(toy_card(), with_parent=False))
    assert "the the" in proposal.code and "<think>" not in proposal.code and "constant" not in proposal.code
    assert "<think>" in proposal.raw_text  # the raw answer is kept
    assert proposer.stats()["models"]["ollama:deepseek-r1:70b"]["thought"] == 1
    assert proposal.usage.completion == 800 and proposer.ledger.cost_usd == 0.0
