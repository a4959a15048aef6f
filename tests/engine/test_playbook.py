"""Playbooks are data: the shipped one loads, and mistakes in a copied one are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from remediate.core.errors import UsageError
from remediate.engine.answers import AnswersFile
from remediate.engine.playbook import check_answers, load_playbook


def write_playbook(tmp_path: Path, steps: list[dict[str, object]]) -> Path:
    path = tmp_path / "custom.yaml"
    path.write_text(yaml.safe_dump({"playbook": "custom", "version": 1, "steps": steps}))
    return path


def test_default_playbook_steps() -> None:
    playbook = load_playbook()

    assert playbook.name == "ses-key-leak"
    assert [step.id for step in playbook.steps] == [
        "identify",
        "investigate",
        "contain",
        "revoke-sessions",
        "find-consumers",
        "rotate",
        "update-consumers",
        "lift-sending-deny",
        "watch",
        "deactivate",
        "eradicate",
        "lift-sending-pause",
        "delete-old-key",
        "report",
    ]
    assert playbook.steps[9].answers == ("deactivate.confirm",)


def test_playbook_by_path(tmp_path: Path) -> None:
    path = write_playbook(tmp_path, [{"id": "who", "kind": "identify"}])

    playbook = load_playbook(str(path))

    assert [(step.id, step.kind, step.title) for step in playbook.steps] == [
        ("who", "identify", "identify")
    ]


def test_unknown_kind_is_named(tmp_path: Path) -> None:
    path = write_playbook(tmp_path, [{"id": "x", "kind": "teleport"}])

    with pytest.raises(
        UsageError, match=r"Step 1 of the playbook .* names an unknown step kind 'teleport'"
    ):
        load_playbook(str(path))


def test_unknown_parameter_is_named(tmp_path: Path) -> None:
    path = write_playbook(tmp_path, [{"id": "r", "kind": "rotate", "params": {"colour": "red"}}])

    with pytest.raises(UsageError, match="sets unknown parameters colour for kind 'rotate'"):
        load_playbook(str(path))


def test_undeclared_answer_is_named(tmp_path: Path) -> None:
    path = write_playbook(
        tmp_path, [{"id": "d", "kind": "deactivate", "answers": ["rotate.delete-key"]}]
    )

    with pytest.raises(
        UsageError,
        match=re.escape("lists answers rotate.delete-key that kind 'deactivate' never asks"),
    ):
        load_playbook(str(path))


def test_duplicate_step_id_is_named(tmp_path: Path) -> None:
    path = write_playbook(
        tmp_path, [{"id": "a", "kind": "identify"}, {"id": "a", "kind": "report"}]
    )

    with pytest.raises(UsageError, match="has two steps with the id 'a'"):
        load_playbook(str(path))


def test_unknown_playbook_name_lists_shipped() -> None:
    with pytest.raises(
        UsageError, match=re.escape("No playbook is named 'nope'. Shipped playbooks: ses-key-leak.")
    ):
        load_playbook("nope")


def answers_file(answers: dict[str, object], approve: tuple[str, ...] = ()) -> AnswersFile:
    return AnswersFile(path=Path("answers.yaml"), answers=answers, approve=frozenset(approve))


def test_answers_checked_against_playbook() -> None:
    check_answers(
        answers_file(
            {"consumers.secrets": "", "consumers.smtp-region.prod/smtp": "eu-west-1"},
            ("deactivate-old-key",),
        ),
        load_playbook(),
    )


def test_misspelt_question_is_rejected() -> None:
    with pytest.raises(UsageError) as caught:
        check_answers(answers_file({"consumer.secrets": ""}), load_playbook())

    assert caught.value.message == (
        "The answers file answers.yaml answers 'consumer.secrets', which the playbook "
        "ses-key-leak never asks; did you mean 'consumers.secrets'?"
    )


def test_misspelt_approval_is_rejected() -> None:
    with pytest.raises(UsageError) as caught:
        check_answers(answers_file({}, ("deactivate-old-keys",)), load_playbook())

    assert caught.value.message == (
        "The answers file answers.yaml approves 'deactivate-old-keys', which the playbook "
        "ses-key-leak never asks for; did you mean 'deactivate-old-key'?"
    )


def test_yes_to_destructive_question_is_rejected_early() -> None:
    with pytest.raises(
        UsageError,
        match=re.escape("deactivate.confirm in the answers file answers yes"),
    ):
        check_answers(answers_file({"deactivate.confirm": True}), load_playbook())
