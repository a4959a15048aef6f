"""Questions on a terminal, asked with questionary."""

from __future__ import annotations

import sys
from typing import Any

import questionary

from remediate.core.interaction import AnswerValue, Question, QuestionKind
from remediate.ui.console import terminal_safe


class QuestionaryPrompter:
    """Asks questions with questionary; `input` and `output` let tests drive it through a pipe."""

    def __init__(self, *, input: Any = None, output: Any = None) -> None:
        self._io: dict[str, Any] = {}
        if input is not None:
            self._io["input"] = input
        if output is not None:
            self._io["output"] = output

    @classmethod
    def for_terminal(cls) -> QuestionaryPrompter:
        """Draw prompts on the terminal even when stdout goes to a pipe (`| tee log`)."""
        if sys.stdout.isatty() or not sys.stderr.isatty():
            return cls()
        from prompt_toolkit.output import create_output

        return cls(output=create_output(stdout=sys.stderr))

    def ask(self, question: Question) -> AnswerValue:
        message = terminal_safe(question.message)
        kind = question.kind
        if kind is QuestionKind.CONFIRM:
            # auto_enter=False: "y" alone must not answer, or the Enter typed after it
            # would answer the next question (a deactivation, say) with its default.
            prompt = questionary.confirm(
                message, default=question.default is True, auto_enter=False, **self._io
            )
        elif kind is QuestionKind.TEXT:
            text = question.default if isinstance(question.default, str) else ""
            prompt = questionary.text(message, default=text, **self._io)
        elif kind is QuestionKind.SELECT:
            prompt = questionary.select(
                message,
                choices=_choices(question),
                default=question.default if isinstance(question.default, str) else None,
                instruction=question.instruction,
                **self._io,
            )
        else:
            selected = question.default if isinstance(question.default, list) else []
            prompt = questionary.checkbox(
                message,
                choices=_choices(question, selected=selected),
                instruction=question.instruction,
                **self._io,
            )
        # unsafe_ask raises KeyboardInterrupt on Ctrl-C instead of returning None.
        answer: AnswerValue = prompt.unsafe_ask()
        return answer


def _choices(question: Question, selected: list[str] | None = None) -> list[questionary.Choice]:
    return [
        questionary.Choice(
            title=terminal_safe(choice.label),
            value=choice.value,
            disabled=terminal_safe(choice.disabled) if choice.disabled else None,
            checked=selected is not None and choice.value in selected,
        )
        for choice in question.choices
    ]
