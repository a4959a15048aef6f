"""Answers files, and the policy that answers a question without a prompt when it may."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from remediate.core.errors import InputRequiredError, UsageError
from remediate.core.interaction import AnswerValue, Prompter, Question, QuestionKind

ANSWERS_VERSION = 1


class AnswerSource:
    ANSWERS_FILE = "answers-file"
    APPROVAL = "approval"
    DEFAULT = "default"
    PROMPT = "prompt"


@dataclass(frozen=True)
class AnswersFile:
    """An answers file: answers by question id, and approvals of destructive actions by name."""

    path: Path | None
    answers: Mapping[str, Any] = field(default_factory=dict)
    approve: frozenset[str] = frozenset()


def load_answers(path: Path) -> AnswersFile:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"Cannot read the answers file {path}: {error.strerror}.") from error
    except yaml.YAMLError as error:
        raise UsageError(f"The answers file {path} is not valid YAML: {error}") from error
    return parse_answers(document, path)


def parse_answers(document: Any, path: Path | None) -> AnswersFile:
    where = f"the answers file {path}" if path else "the answers"
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise UsageError(f"{where.capitalize()} must be a mapping with `answers` and `approve`.")
    unknown = sorted(set(document) - {"version", "answers", "approve"})
    if unknown:
        raise UsageError(f"{where.capitalize()} has unknown keys: {', '.join(unknown)}.")
    version = document.get("version", ANSWERS_VERSION)
    if version != ANSWERS_VERSION:
        raise UsageError(
            f"{where.capitalize()} has version {version!r}; expected {ANSWERS_VERSION}."
        )
    answers = document.get("answers") or {}
    approve = document.get("approve") or []
    if not isinstance(answers, dict):
        raise UsageError(f"`answers` in {where} must map question ids to answers.")
    if not isinstance(approve, list) or not all(isinstance(name, str) for name in approve):
        raise UsageError(f"`approve` in {where} must be a list of action names.")
    return AnswersFile(path=path, answers=answers, approve=frozenset(approve))


@dataclass
class AnswerPolicy:
    """Decides how each question is answered.

    In order: the answers file; an approval by name for a destructive action
    (or `approve_all` in a rehearsal); the default, when --yes was given or no
    prompt may be shown; a prompt. A question that none of these can answer
    stops the run with what to add to the answers file.

    `interactive` says whether a prompt may be shown. `remediate run` prompts
    only without --yes and --answers; `remediate resume` prompts whenever a
    terminal is attached, so that an approval a first run lacked can be given.
    """

    answers: AnswersFile | None = None
    assume_yes: bool = False
    approve_all: bool = False
    prompter: Prompter | None = None
    interactive: bool | None = None
    resume_hint: str = ""

    def __post_init__(self) -> None:
        if self.interactive is None:
            self.interactive = (
                self.prompter is not None and not self.assume_yes and self.answers is None
            )

    def resolve(self, question: Question) -> tuple[AnswerValue, str]:
        given = self.answers.answers if self.answers else {}
        if question.id in given:
            value = validate_answer(question, given[question.id], self._where())
            approved = self.answers is not None and question.approval in self.answers.approve
            if question.approval is not None and value is True and not approved:
                raise UsageError(
                    f"{question.id} in {self._where()} answers yes to a destructive action; "
                    f"approve it by name instead: list `{question.approval}` under `approve:`."
                )
            return value, AnswerSource.ANSWERS_FILE

        if question.approval is not None:
            if self.approve_all or (self.answers and question.approval in self.answers.approve):
                return True, AnswerSource.APPROVAL
        elif question.default is not None and (self.assume_yes or not self.interactive):
            return question.default, AnswerSource.DEFAULT

        if not self.interactive or self.prompter is None:
            raise InputRequiredError(self._unanswered(question), next_step=self._next_command())
        return validate_answer(
            question, self.prompter.ask(question), "the prompt"
        ), AnswerSource.PROMPT

    def _unanswered(self, question: Question) -> str:
        if question.approval is not None:
            return (
                f"{question.message} This is a destructive action and needs approval by name: "
                f"add `{question.approval}` under `approve:` in the answers file, or answer it "
                "at a prompt (on a terminal, without --yes or --answers)."
            )
        return (
            f"{question.message} This question has no default: answer it with "
            f"`{question.id}:` under `answers:` in the answers file."
        )

    def _next_command(self) -> str | None:
        """Return the command that continues the incident, with the answers file this run read."""
        path = self.answers.path if self.answers else None
        hint = self.resume_hint
        if path is not None and hint.startswith(("remediate resume ", "remediate rollback ")):
            return f"{hint} --answers {path}"
        return hint or None

    def _where(self) -> str:
        path = self.answers.path if self.answers else None
        return f"the answers file {path}" if path else "the answers"


def validate_answer(question: Question, value: Any, where: str) -> AnswerValue:
    """Check an answer against the question's kind and choices."""
    kind = question.kind
    if kind is QuestionKind.CONFIRM:
        if not isinstance(value, bool):
            raise UsageError(f"{question.id} in {where} must be true or false, not {value!r}.")
        return value
    if kind is QuestionKind.TEXT:
        if not isinstance(value, str):
            raise UsageError(f"{question.id} in {where} must be a string, not {value!r}.")
        return value
    allowed = question.enabled_values()
    if kind is QuestionKind.SELECT:
        if value not in allowed:
            raise UsageError(
                f"{question.id} in {where} is {value!r}; choose one of: {', '.join(allowed)}."
            )
        return str(value)
    values = value if isinstance(value, list) else [value]
    invalid = [item for item in values if item not in allowed]
    if invalid:
        raise UsageError(
            f"{question.id} in {where} contains {', '.join(map(str, invalid))}; "
            f"choose from: {', '.join(allowed)}."
        )
    return [str(item) for item in values]
