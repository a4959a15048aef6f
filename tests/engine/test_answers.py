"""How a question is answered: answers file, approvals by name, --yes, prompt, or a stop."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from remediate.core.errors import InputRequiredError, UsageError
from remediate.core.interaction import Choice, Question, QuestionKind
from remediate.engine.answers import AnswerPolicy, AnswersFile, load_answers
from tests.helpers import ScriptedPrompter

DEACTIVATE = Question(
    "deactivate.confirm",
    "Deactivate it?",
    QuestionKind.CONFIRM,
    default=False,
    approval="deactivate-old-key",
)
REGION = Question(
    "pick.region",
    "Which region?",
    QuestionKind.SELECT,
    default="eu-west-1",
    choices=(
        Choice("eu-west-1", "eu-west-1"),
        Choice("us-east-1", "us-east-1", disabled="not allowed"),
    ),
)


def answers(values: dict[str, object] | None = None, approve: tuple[str, ...] = ()) -> AnswersFile:
    return AnswersFile(path=Path("answers.yaml"), answers=values or {}, approve=frozenset(approve))


def test_answers_file_value_wins() -> None:
    policy = AnswerPolicy(answers=answers({"pick.region": "eu-west-1"}))

    assert policy.resolve(REGION) == ("eu-west-1", "answers-file")


def test_yes_takes_default() -> None:
    assert AnswerPolicy(assume_yes=True).resolve(REGION) == ("eu-west-1", "default")


def test_approval_by_name_allows_destructive_action() -> None:
    policy = AnswerPolicy(answers=answers(approve=("deactivate-old-key",)))

    assert policy.resolve(DEACTIVATE) == (True, "approval")


def test_yes_without_approval_stops() -> None:
    policy = AnswerPolicy(assume_yes=True, resume_hint="remediate resume incidents/x")

    with pytest.raises(InputRequiredError) as caught:
        policy.resolve(DEACTIVATE)

    assert "add `deactivate-old-key` under `approve:`" in caught.value.message
    assert caught.value.next_step == "remediate resume incidents/x"


def test_refusal_names_answers_file() -> None:
    """The next command repeats --answers, so that the edited file is read again."""
    policy = AnswerPolicy(answers=answers(), resume_hint="remediate resume incidents/x")

    with pytest.raises(InputRequiredError) as caught:
        policy.resolve(DEACTIVATE)

    assert caught.value.next_step == "remediate resume incidents/x --answers answers.yaml"


def test_rehearsal_approves_everything() -> None:
    assert AnswerPolicy(assume_yes=True, approve_all=True).resolve(DEACTIVATE) == (True, "approval")


def test_yes_answer_to_destructive_question_needs_approval() -> None:
    policy = AnswerPolicy(answers=answers({"deactivate.confirm": True}))

    with pytest.raises(UsageError, match="approve it by name instead"):
        policy.resolve(DEACTIVATE)


def test_no_answer_to_destructive_question_is_kept() -> None:
    policy = AnswerPolicy(answers=answers({"deactivate.confirm": False}))

    assert policy.resolve(DEACTIVATE) == (False, "answers-file")


def test_disabled_choice_is_rejected() -> None:
    policy = AnswerPolicy(answers=answers({"pick.region": "us-east-1"}))

    with pytest.raises(UsageError, match="choose one of: eu-west-1"):
        policy.resolve(REGION)


def test_prompt_used_on_terminal() -> None:
    prompter = ScriptedPrompter({"deactivate.confirm": True})

    assert AnswerPolicy(prompter=prompter).resolve(DEACTIVATE) == (True, "prompt")
    assert prompter.asked == ["deactivate.confirm"]


def test_question_without_default_stops_when_non_interactive() -> None:
    question = Question("consumers.region", "Which region?", QuestionKind.TEXT)

    with pytest.raises(InputRequiredError, match=re.escape("answer it with `consumers.region:`")):
        AnswerPolicy(assume_yes=True).resolve(question)


def test_load_answers_file(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(
        "version: 1\nanswers:\n  pick.region: eu-west-1\napprove: [deactivate-old-key]\n"
    )

    loaded = load_answers(path)

    assert loaded.answers == {"pick.region": "eu-west-1"}
    assert loaded.approve == frozenset({"deactivate-old-key"})


def test_load_answers_rejects_unknown_key(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("answer: {}\n")

    with pytest.raises(UsageError, match="has unknown keys: answer"):
        load_answers(path)
