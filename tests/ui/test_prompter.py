"""questionary prompts, driven through prompt_toolkit pipe input behind the Prompter interface."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from remediate.core.interaction import Choice, Question, QuestionKind
from remediate.ui.prompter import QuestionaryPrompter

DOWN = "\x1b[B"
ENTER = "\r"


@pytest.fixture
def pipe() -> Iterator[PipeInput]:
    with create_pipe_input() as pipe_input:
        yield pipe_input


def ask(pipe: PipeInput, question: Question, keys: str) -> object:
    pipe.send_text(keys)
    return QuestionaryPrompter(input=pipe, output=DummyOutput()).ask(question)


def test_confirm_yes(pipe: PipeInput) -> None:
    question = Question("deactivate.confirm", "Deactivate?", QuestionKind.CONFIRM, default=False)

    assert ask(pipe, question, "y" + ENTER) is True


def test_confirm_enter_after_y_stays_with_its_question(pipe: PipeInput) -> None:
    delete = Question("rotate.confirm-delete", "Delete?", QuestionKind.CONFIRM, default=False)
    deactivate = Question("deactivate.confirm", "Deactivate?", QuestionKind.CONFIRM, default=False)
    prompter = QuestionaryPrompter(input=pipe, output=DummyOutput())

    pipe.send_text("y" + ENTER + "y" + ENTER)

    assert prompter.ask(delete) is True
    assert prompter.ask(deactivate) is True


def test_confirm_enter_takes_default(pipe: PipeInput) -> None:
    question = Question("deactivate.confirm", "Deactivate?", QuestionKind.CONFIRM, default=False)

    assert ask(pipe, question, ENTER) is False


def test_select_second_choice(pipe: PipeInput) -> None:
    question = Question(
        "rotate.delete-key",
        "Which key?",
        QuestionKind.SELECT,
        default="AKIAONE",
        choices=(Choice("AKIAONE", "first"), Choice("AKIATWO", "second")),
    )

    assert ask(pipe, question, DOWN + ENTER) == "AKIATWO"


def test_select_skips_disabled_choice(pipe: PipeInput) -> None:
    question = Question(
        "rotate.delete-key",
        "Which key?",
        QuestionKind.SELECT,
        default="AKIAONE",
        choices=(
            Choice("AKIAONE", "first"),
            Choice("AKIALEAKED", "leaked", disabled="consumers still use it"),
            Choice("AKIATHREE", "third"),
        ),
    )

    assert ask(pipe, question, DOWN + ENTER) == "AKIATHREE"


def test_checkbox_defaults_checked(pipe: PipeInput) -> None:
    question = Question(
        "consumers.select",
        "Which consumers?",
        QuestionKind.CHECKBOX,
        default=["a", "b"],
        choices=(Choice("a", "secret a"), Choice("b", "secret b")),
    )

    assert ask(pipe, question, " " + ENTER) == ["b"]


def test_text_answer(pipe: PipeInput) -> None:
    question = Question("consumers.secrets", "Other secrets?", QuestionKind.TEXT, default="")

    assert ask(pipe, question, "eu-west-1:prod/smtp" + ENTER) == "eu-west-1:prod/smtp"


def test_ctrl_c_raises_keyboard_interrupt(pipe: PipeInput) -> None:
    question = Question("deactivate.confirm", "Deactivate?", QuestionKind.CONFIRM, default=False)

    with pytest.raises(KeyboardInterrupt):
        ask(pipe, question, "\x03")
