"""SecretValue never prints its value, and the registry stops any write that contains one."""

from __future__ import annotations

import pytest

from remediate.core.errors import SecretLeakError
from remediate.core.secrets import MASK, SecretValue, registry

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def test_secret_value_repr_and_str_are_masked() -> None:
    value = SecretValue(SECRET)

    assert repr(value) == "SecretValue('****')"
    assert str(value) == MASK
    assert f"{value}" == MASK
    assert SECRET not in repr([value])


def test_secret_value_reveal_returns_value() -> None:
    assert SecretValue(SECRET).reveal() == SECRET


def test_secret_value_matches_compares_value() -> None:
    value = SecretValue(SECRET)

    assert value.matches(SECRET)
    assert not value.matches(SECRET[:-1] + "X")


def test_secret_value_refuses_pickle() -> None:
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(SecretValue(SECRET))


def test_registry_check_raises_before_write() -> None:
    SecretValue(SECRET)

    with pytest.raises(SecretLeakError, match="Refused to write a secret to the log"):
        registry.check(f"key={SECRET}", destination="the log")


def test_registry_scrub_masks_every_occurrence() -> None:
    SecretValue(SECRET)

    assert registry.scrub(f"a {SECRET} b {SECRET}") == f"a {MASK} b {MASK}"


def test_registry_ignores_short_values() -> None:
    SecretValue("short")

    assert registry.scrub("a short text") == "a short text"
