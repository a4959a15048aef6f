"""Secret values that refuse to be printed, and the registry every output is checked against."""

from __future__ import annotations

import hmac
import re
import threading
from collections.abc import Iterable

from remediate.core.errors import SecretLeakError

MASK = "****"
ACCESS_KEY_ID = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")

# Secrets shorter than this are not registered: a short value would match
# ordinary text and mask it for no benefit. Every secret this tool handles (a
# secret access key of 40 characters, an SMTP password of 44) is far longer.
MIN_REGISTERED_LENGTH = 16


class SecretValue:
    """A secret string whose repr and str are masked.

    Code that needs the value calls `reveal()`, so every place a secret leaves
    memory can be found by searching for that name.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str, *, register: bool = True) -> None:
        """Wrap a secret; `register=False` for a value read only to compare it.

        A registered value is masked or refused in every output. A whole secret
        read during discovery is not registered, because it may be a bare access
        key ID, which outputs must show; its credential field is registered instead.
        """
        self._value = value
        if register:
            registry.register(value)

    def reveal(self) -> str:
        return self._value

    def matches(self, candidate: str) -> bool:
        """Compare in constant time, so a comparison does not leak the value."""
        return hmac.compare_digest(self._value.encode(), candidate.encode())

    def __repr__(self) -> str:
        return f"SecretValue({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretValue) and self.matches(other._value)

    def __hash__(self) -> int:
        return hash(SecretValue)

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("SecretValue cannot be pickled")


class SecretRegistry:
    """The secrets this process holds, so that every output can be checked for them.

    The journal, the console, the log and the report writers all pass their text
    through `check` or `scrub`. The registry lives for the process, like a
    logging filter, because a secret may reach any output channel.
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def register(self, value: str) -> None:
        # An access key ID is an identifier, shown on purpose; never mask it.
        if len(value) >= MIN_REGISTERED_LENGTH and not ACCESS_KEY_ID.fullmatch(value):
            with self._lock:
                self._values.add(value)

    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def scrub(self, text: str) -> str:
        """Return text with every registered secret replaced by the mask."""
        for value in self.values():
            if value in text:
                text = text.replace(value, MASK)
        return text

    def check(self, text: str, *, destination: str) -> None:
        """Raise SecretLeakError if text contains a registered secret."""
        for value in self.values():
            if value in text:
                raise SecretLeakError(
                    f"Refused to write a secret to {destination}; nothing was written. "
                    "This is a bug in remediate: run again with --debug and report it."
                )

    def forget_all(self) -> None:
        """Drop every registered value; tests call this between scenarios."""
        with self._lock:
            self._values.clear()


registry = SecretRegistry()


def contains_any(text: str, secrets: Iterable[str]) -> bool:
    return any(secret and secret in text for secret in secrets)
