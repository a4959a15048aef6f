"""What a step may ask the operator and show them, independent of how it is rendered.

Steps and the engine depend on these protocols; `remediate.ui` implements them
with questionary and rich, and tests implement them with scripted answers.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


class QuestionKind(enum.StrEnum):
    CONFIRM = "confirm"
    SELECT = "select"
    TEXT = "text"
    CHECKBOX = "checkbox"


@dataclass(frozen=True)
class Choice:
    """One option of a select or checkbox question; `disabled` says why it cannot be chosen."""

    value: str
    label: str
    disabled: str | None = None


AnswerValue = bool | str | list[str]


@dataclass(frozen=True)
class Question:
    """A question with a stable id, so that an answers file can answer it by name.

    `approval` names the destructive action a yes to this question allows (for
    example `deactivate-old-key`). In `remediate run` such a question is
    answered yes without a prompt only when the answers file lists that name
    under `approve`.
    """

    id: str
    message: str
    kind: QuestionKind
    default: AnswerValue | None = None
    choices: tuple[Choice, ...] = ()
    approval: str | None = None
    instruction: str | None = None

    def enabled_values(self) -> list[str]:
        return [choice.value for choice in self.choices if choice.disabled is None]


class Prompter(Protocol):
    """Asks the operator one question on a terminal and returns the answer.

    Raises KeyboardInterrupt when the operator cancels (Ctrl-C).
    """

    def ask(self, question: Question) -> AnswerValue: ...


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[str]] = field(default_factory=list)


class Console(Protocol):
    """The operator's screen. Every text argument is plain text, never markup.

    Implementations escape markup, replace control characters and mask
    registered secrets, because much of what is shown (user agents, user and
    identity names) comes from the attacker.
    """

    def heading(self, text: str) -> None: ...

    def info(self, text: str) -> None: ...

    def success(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...

    def error(self, text: str) -> None: ...

    def table(self, table: Table) -> None: ...
