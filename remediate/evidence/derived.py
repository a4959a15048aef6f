"""Keys obtained with the leaked key: temporary keys from STS, and access keys it created.

An attacker keeps working with such a key after the leaked key is deactivated,
and its events carry the new key's ID, not the leaked one, so the investigation
follows each of them and reports what it did.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from remediate.core.timeutil import format_timestamp
from remediate.evidence.events import TrailEvent, sort_events
from remediate.evidence.indicators import Finding, IndicatorInfo

# Calls whose responseElements.credentials hold a temporary key.
TEMPORARY_KEY_CALLS = frozenset({"GetSessionToken", "GetFederationToken", "AssumeRole"})
# IAM CreateAccessKey, for any user: responseElements.accessKey contains the new
# key's ID. CloudTrail logs no secret access key there.
ACCESS_KEY_CALLS = frozenset({"CreateAccessKey"})
CREDENTIAL_ISSUING_CALLS = TEMPORARY_KEY_CALLS | ACCESS_KEY_CALLS


@dataclass(frozen=True)
class DerivedCredential:
    """A key obtained with the leaked key, or with a key obtained from it, and the issuing event.

    `user_name` is the IAM user that a created access key belongs to, and None
    for a temporary key.
    """

    access_key_id: str
    obtained_with: str
    event: TrailEvent
    user_name: str | None = None

    @property
    def temporary(self) -> bool:
        return self.event.event_name in TEMPORARY_KEY_CALLS

    def describe(self) -> str:
        """Say how the key was obtained, for example `through CreateAccessKey (event ...)`."""
        owner = f" for user {self.user_name}" if self.user_name else ""
        return (
            f"obtained through {self.event.event_name}{owner} (event {self.event.ref} at "
            f"{format_timestamp(self.event.event_time)}) with {self.obtained_with}"
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "access_key_id": self.access_key_id,
            "temporary": self.temporary,
            "user_name": self.user_name,
            "obtained_with": self.obtained_with,
            "obtained_by": {
                "eventID": self.event.ref,
                "eventName": self.event.event_name,
                "eventTime": format_timestamp(self.event.event_time),
                "awsRegion": self.event.aws_region,
            },
        }


def derived_credentials(
    events: Iterable[TrailEvent], access_key_id: str
) -> list[DerivedCredential]:
    """Return the keys the key obtained, then those they obtained, each once, nearest first.

    A key issued twice keeps its earliest issuing event. The leaked key itself
    is never its own derived key.
    """
    ordered = sort_events(events)
    found: dict[str, DerivedCredential] = {}
    parents = [access_key_id]
    while parents:
        parent = parents.pop(0)
        for event in ordered:
            if event.access_key_id != parent:
                continue
            child = issued_key(event)
            if child is None or child == access_key_id or child in found:
                continue
            found[child] = DerivedCredential(child, parent, event, _key_owner(event))
            parents.append(child)
    return list(found.values())


def issued_key(event: TrailEvent) -> str | None:
    """Return the ID of the key that a successful credential-issuing call returned, or None."""
    response = event.response_elements or {}
    if event.event_name in TEMPORARY_KEY_CALLS:
        credentials = response.get("credentials")
    elif event.event_name in ACCESS_KEY_CALLS:
        credentials = response.get("accessKey")
    else:
        return None
    if isinstance(credentials, dict) and isinstance(credentials.get("accessKeyId"), str):
        return str(credentials["accessKeyId"])
    return None


def derived_activity_finding(
    info: IndicatorInfo,
    credentials: Sequence[DerivedCredential],
    events: Sequence[TrailEvent],
) -> Finding | None:
    """Report the calls each derived key made, naming the event that issued the key.

    The finding's event_ids start with the issuing events, followed by the
    derived keys' own calls. None when no derived key made a call.
    """
    issuing: list[TrailEvent] = []
    used: list[TrailEvent] = []
    sentences: list[str] = []
    for credential in credentials:
        calls = sort_events(
            event for event in events if event.access_key_id == credential.access_key_id
        )
        if not calls:
            continue
        issuing.append(credential.event)
        used.extend(calls)
        names = ", ".join(sorted({event.event_name or "?" for event in calls}))
        first, last = format_timestamp(calls[0].event_time), format_timestamp(calls[-1].event_time)
        span = f"at {first}" if first == last else f"from {first} to {last}"
        sentences.append(
            f"{credential.access_key_id}, {credential.describe()}, made {len(calls)} call(s) "
            f"({names}) {span}."
        )
    if not used:
        return None

    used = sort_events(used)
    return info.finding(
        event_ids=tuple(dict.fromkeys(event.ref for event in [*issuing, *used])),
        summary=" ".join(sentences),
        regions=tuple(sorted({event.aws_region for event in used if event.aws_region})),
        first_seen=used[0].event_time,
        last_seen=used[-1].event_time,
    )


def _key_owner(event: TrailEvent) -> str | None:
    if event.event_name not in ACCESS_KEY_CALLS:
        return None
    access_key = (event.response_elements or {}).get("accessKey")
    if isinstance(access_key, dict) and isinstance(access_key.get("userName"), str):
        return str(access_key["userName"])
    # CreateAccessKey without a UserName acts on the caller's own user.
    requested = (event.request_parameters or {}).get("userName")
    return str(requested) if isinstance(requested, str) else event.user_name
