"""Playbooks: YAML files that list the steps of an incident response, validated on load."""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from remediate.core.errors import UsageError
from remediate.core.resources import data_dir
from remediate.engine.answers import AnswersFile
from remediate.engine.preflight import PREFLIGHT_QUESTION
from remediate.engine.registry import step_class
from remediate.steps.base import StepSpec

DEFAULT_PLAYBOOK = "ses-key-leak"
PLAYBOOK_VERSION = 1


@dataclass(frozen=True)
class Playbook:
    name: str
    title: str
    path: Path
    sha256: str
    steps: tuple[StepSpec, ...]


def resolve_playbook(name_or_path: str | None) -> Path:
    """Find a playbook by path, or by name among the shipped ones."""
    reference = name_or_path or DEFAULT_PLAYBOOK
    candidate = Path(reference)
    if candidate.suffix in {".yaml", ".yml"} or candidate.exists():
        if not candidate.is_file():
            raise UsageError(f"The playbook file {candidate} does not exist.")
        return candidate
    shipped = data_dir("playbooks")
    path = shipped / f"{reference}.yaml"
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in shipped.glob("*.yaml")))
        raise UsageError(f"No playbook is named {reference!r}. Shipped playbooks: {names}.")
    return path


def load_playbook(name_or_path: str | None = None) -> Playbook:
    path = resolve_playbook(name_or_path)
    raw = path.read_bytes()
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise UsageError(f"The playbook {path} is not valid YAML: {error}") from error
    return parse_playbook(document, path=path, sha256=hashlib.sha256(raw).hexdigest())


def parse_playbook(document: Any, *, path: Path, sha256: str) -> Playbook:
    if not isinstance(document, dict):
        raise UsageError(f"The playbook {path} must be a mapping with `playbook` and `steps`.")
    _require_keys(
        document, {"playbook", "version", "steps"}, {"title", "description"}, f"The playbook {path}"
    )
    if document["version"] != PLAYBOOK_VERSION:
        raise UsageError(
            f"The playbook {path} has version {document['version']!r}; "
            f"this remediate reads version {PLAYBOOK_VERSION}."
        )
    steps = document["steps"]
    if not isinstance(steps, list) or not steps:
        raise UsageError(f"The playbook {path} must list at least one step under `steps`.")
    specs = tuple(_parse_step(item, index, path) for index, item in enumerate(steps, start=1))
    seen: set[str] = set()
    for spec in specs:
        if spec.id in seen:
            raise UsageError(f"The playbook {path} has two steps with the id {spec.id!r}.")
        seen.add(spec.id)
    return Playbook(
        name=str(document["playbook"]),
        title=str(document.get("title") or document["playbook"]),
        path=path,
        sha256=sha256,
        steps=specs,
    )


def _parse_step(item: Any, index: int, path: Path) -> StepSpec:
    where = f"Step {index} of the playbook {path}"
    if not isinstance(item, dict):
        raise UsageError(f"{where} must be a mapping with `id` and `kind`.")
    _require_keys(item, {"id", "kind"}, {"title", "params", "answers"}, where)
    kind = str(item["kind"])
    try:
        cls = step_class(kind)
    except KeyError as error:
        raise UsageError(f"{where} names an unknown step kind {kind!r}. {error.args[0]}") from error

    params = item.get("params") or {}
    if not isinstance(params, dict):
        raise UsageError(f"The `params` of the {where} must be a mapping.")
    unknown = sorted(set(params) - set(cls.defaults))
    if unknown:
        allowed = ", ".join(sorted(cls.defaults)) or "none"
        raise UsageError(
            f"{where} sets unknown parameters {', '.join(unknown)} for kind {kind!r} "
            f"(allowed: {allowed})."
        )

    answers = item.get("answers") or []
    undeclared = sorted(set(answers) - set(cls.questions))
    if undeclared:
        raise UsageError(
            f"{where} lists answers {', '.join(undeclared)} that kind {kind!r} never asks "
            f"(it asks: {', '.join(cls.questions) or 'nothing'})."
        )
    return StepSpec(
        id=str(item["id"]),
        kind=kind,
        title=str(item.get("title") or kind),
        params=params,
        answers=tuple(answers),
    )


def _require_keys(
    mapping: dict[str, Any], required: set[str], optional: set[str], where: str
) -> None:
    missing = sorted(required - set(mapping))
    if missing:
        raise UsageError(f"{where} is missing {', '.join(missing)}.")
    unknown = sorted(set(mapping) - required - optional)
    if unknown:
        raise UsageError(f"{where} has unknown keys {', '.join(unknown)}.")


def check_answers(answers: AnswersFile, playbook: Playbook) -> None:
    """Reject, before anything runs, answers and approvals that the playbook never asks for.

    A misspelt question id or approval name would otherwise be ignored and the
    run would stop at that question, after the irreversible steps.
    """
    classes = [step_class(spec.kind) for spec in playbook.steps]
    # The engine asks one question of its own, when the permission preflight finds a gap.
    questions = {question for cls in classes for question in cls.questions} | {PREFLIGHT_QUESTION}
    approvals = {approval for cls in classes for approval in cls.approvals}
    approval_questions = {question for cls in classes for question in cls.approval_questions}
    where = f"The answers file {answers.path}" if answers.path else "The answers"

    for question, value in answers.answers.items():
        # Some ids carry a suffix, such as consumers.smtp-region.<secret name>.
        if question not in questions and not any(question.startswith(q + ".") for q in questions):
            raise UsageError(
                f"{where} answers {question!r}, which the playbook {playbook.name} never asks"
                + _suggestion(question, questions)
            )
        if question in approval_questions and value is True:
            raise UsageError(
                f"{question} in the answers file answers yes to a destructive action; approve it "
                f"by name instead under `approve:` ({', '.join(sorted(approvals))})."
            )
    for approval in sorted(answers.approve):
        if approval not in approvals:
            raise UsageError(
                f"{where} approves {approval!r}, which the playbook {playbook.name} never asks for"
                + _suggestion(approval, approvals)
            )


def _suggestion(name: str, known: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; it asks: {', '.join(sorted(known))}."
