"""The indicator catalogue (indicators.yaml) and matching it against CloudTrail events."""

from __future__ import annotations

import enum
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from remediate.core.timeutil import format_timestamp
from remediate.evidence.events import TrailEvent, sort_events

CATALOGUE_RESOURCE = "indicators.yaml"
CATALOGUE_SCHEMA_VERSION = 1


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class CatalogueError(ValueError):
    """The indicator catalogue is invalid. The message names the indicator and the field."""


@dataclass(frozen=True)
class Finding:
    """An indicator that matched, with the events or SES data points behind it.

    `event_ids` hold eventIDs (or the digest reference of an event without one);
    `data_points` name SES statistics and CloudWatch data points as
    `<region>@<timestamp>`, and a region's sesv2 account state as `<region>@GetAccount`.
    """

    id: str
    title: str
    severity: Severity
    description: str
    source: str
    event_ids: tuple[str, ...] = ()
    data_points: tuple[str, ...] = ()
    summary: str = ""
    regions: tuple[str, ...] = ()
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "severity": str(self.severity),
            "title": self.title,
            "description": self.description,
            "summary": self.summary,
            "source": self.source,
            "event_ids": list(self.event_ids),
            "data_points": list(self.data_points),
            "regions": list(self.regions),
            "first_seen": _timestamp(self.first_seen),
            "last_seen": _timestamp(self.last_seen),
        }


@dataclass(frozen=True)
class IndicatorInfo:
    """Id, title, severity, description and source of an indicator, whatever it matches on."""

    id: str
    title: str
    severity: Severity
    description: str
    source: str

    def finding(self, *, severity: Severity | None = None, **evidence: Any) -> Finding:
        """Build the finding; `severity` replaces the indicator's own when the evidence is worse."""
        return Finding(
            id=self.id,
            title=self.title,
            severity=severity or self.severity,
            description=self.description,
            source=self.source,
            **evidence,
        )


@dataclass(frozen=True)
class CallSelector:
    """An eventSource and the eventNames of it that count. No names means every call."""

    event_source: str | None
    event_names: frozenset[str]

    def matches(self, event: TrailEvent) -> bool:
        if self.event_source is not None and event.event_source != self.event_source:
            return False
        return not self.event_names or event.event_name in self.event_names


@dataclass(frozen=True)
class EventCriteria:
    """Conditions on one event, each of which must hold when it is given."""

    calls: tuple[CallSelector, ...] = ()
    user_agents: tuple[re.Pattern[str], ...] = ()
    error_codes: frozenset[str] = frozenset()
    parameters: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def matches(self, event: TrailEvent) -> bool:
        if self.calls and not any(selector.matches(event) for selector in self.calls):
            return False
        if self.user_agents and not _user_agent_matches(event, self.user_agents):
            return False
        if self.error_codes and event.error_code not in self.error_codes:
            return False
        return not self.parameters or _parameters_match(event, self.parameters)


@dataclass(frozen=True)
class FollowUp:
    """Calls that must follow a matching event within `within`, on a shared parameter value."""

    calls: tuple[CallSelector, ...]
    within: timedelta
    same_parameters: tuple[str, ...] = ()

    def pairs_with(self, first: TrailEvent, second: TrailEvent) -> bool:
        if not any(selector.matches(second) for selector in self.calls):
            return False
        if not first.event_time <= second.event_time <= first.event_time + self.within:
            return False
        if not self.same_parameters:
            return True
        return bool(
            _parameter_values(first, self.same_parameters)
            & _parameter_values(second, self.same_parameters)
        )


@dataclass(frozen=True)
class EventIndicator:
    """An indicator matched against CloudTrail events."""

    info: IndicatorInfo
    criteria: EventCriteria
    min_events: int = 1
    min_distinct_names: int = 1
    min_regions: int = 1
    window: timedelta | None = None
    followed_by: FollowUp | None = None

    @property
    def id(self) -> str:
        return self.info.id

    def match(self, events: Sequence[TrailEvent]) -> Finding | None:
        """Return a finding naming every event that took part, or None when it does not fire."""
        matched = [event for event in events if self.criteria.matches(event)]
        if self.followed_by is not None:
            evidence = _followed_events(matched, events, self.followed_by)
        else:
            evidence = self._events_reaching_thresholds(matched)
        if not evidence:
            return None
        return self.info.finding(**_describe_events(evidence))

    def _events_reaching_thresholds(self, matched: list[TrailEvent]) -> list[TrailEvent]:
        if self.window is None:
            return matched if self._reaches(matched) else []
        return _events_in_qualifying_windows(matched, self.window, self._reaches)

    def _reaches(self, events: Sequence[TrailEvent]) -> bool:
        return (
            len(events) >= self.min_events
            and len({event.event_name for event in events}) >= self.min_distinct_names
            and len({event.aws_region for event in events}) >= self.min_regions
        )


@dataclass(frozen=True)
class BenignFilter:
    """Events an AWS service made on the account's behalf, which are never evidence."""

    user_identity_types: frozenset[str] = frozenset()
    source_ip_suffixes: tuple[str, ...] = ()
    source_ips: frozenset[str] = frozenset()

    def is_benign(self, event: TrailEvent) -> bool:
        if event.user_type in self.user_identity_types:
            return True
        source = event.source_ip or ""
        return source in self.source_ips or (
            bool(self.source_ip_suffixes) and source.endswith(self.source_ip_suffixes)
        )


@dataclass(frozen=True)
class SendingThresholds:
    """Thresholds of the sending indicators, from the `sending` section of indicators.yaml."""

    spike_factor: float
    spike_min_attempts: int
    min_baseline_points: int
    new_region_recent: timedelta
    bounce_rate: float
    complaint_rate: float
    near_fraction: float
    reputation_min_attempts: int


@dataclass(frozen=True)
class SendingIndicators:
    """Indicators computed per region from SES statistics, account state and CloudWatch."""

    spike: IndicatorInfo
    new_region: IndicatorInfo
    unused_region: IndicatorInfo
    reputation: IndicatorInfo
    review_pending: IndicatorInfo
    production_unused_region: IndicatorInfo
    enforcement: IndicatorInfo
    thresholds: SendingThresholds


@dataclass(frozen=True)
class Catalogue:
    indicators: tuple[EventIndicator, ...]
    benign: BenignFilter
    sending: SendingIndicators
    # The activity of keys that the leaked key obtained (temporary keys, new access keys).
    derived_credentials: IndicatorInfo

    def match(self, events: Iterable[TrailEvent]) -> list[Finding]:
        """Match every event indicator after leaving out the calls of AWS services."""
        evidence = sort_events(event for event in events if not self.benign.is_benign(event))
        findings = [indicator.match(evidence) for indicator in self.indicators]
        return sort_findings(finding for finding in findings if finding is not None)

    def ids(self) -> list[str]:
        sending = self.sending
        extra = [
            sending.spike,
            sending.new_region,
            sending.unused_region,
            sending.reputation,
            sending.review_pending,
            sending.production_unused_region,
            sending.enforcement,
            self.derived_credentials,
        ]
        return [indicator.id for indicator in self.indicators] + [info.id for info in extra]


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first, then by id."""
    return sorted(findings, key=lambda finding: (-finding.severity.rank, finding.id))


@functools.cache
def default_catalogue() -> Catalogue:
    """Return the catalogue shipped inside the package."""
    return parse_catalogue(_shipped_document(), origin=CATALOGUE_RESOURCE)


@functools.cache
def _shipped_document() -> dict[str, Any]:
    text = resources.files("remediate.evidence").joinpath(CATALOGUE_RESOURCE).read_text("utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


def load_catalogue(path: Path) -> Catalogue:
    """Load a team's own catalogue file, raising CatalogueError if it is invalid."""
    try:
        document = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise CatalogueError(f"Cannot read the indicator catalogue {path}: {error}") from error
    return parse_catalogue(document, origin=str(path))


def parse_catalogue(document: Any, *, origin: str) -> Catalogue:
    reader = _Reader(origin)
    root = reader.mapping(document, "the catalogue")
    version = root.get("schema_version")
    if version != CATALOGUE_SCHEMA_VERSION:
        raise CatalogueError(
            f"{origin}: schema_version is {version!r}; this remediate reads "
            f"version {CATALOGUE_SCHEMA_VERSION}."
        )
    indicators = tuple(
        reader.event_indicator(item)
        for item in reader.sequence(root.get("indicators"), "indicators")
    )
    duplicates = [id_ for id_, count in Counter(i.id for i in indicators).items() if count > 1]
    if duplicates:
        raise CatalogueError(f"{origin}: indicator ids appear twice: {', '.join(duplicates)}.")
    # A team's file written before an indicator was added takes the shipped definition.
    derived = root.get("derived_credentials") or _shipped_document()["derived_credentials"]
    return Catalogue(
        indicators=indicators,
        benign=reader.benign(root.get("benign") or {}),
        sending=reader.sending(root.get("sending")),
        derived_credentials=reader.info(
            reader.mapping(derived, "derived_credentials"), "derived_credentials"
        ),
    )


def _user_agent_matches(event: TrailEvent, patterns: Sequence[re.Pattern[str]]) -> bool:
    agent = event.user_agent or ""
    return any(pattern.search(agent) for pattern in patterns)


def _parameters_match(event: TrailEvent, parameters: Mapping[str, frozenset[str]]) -> bool:
    request = event.request_parameters or {}
    return any(
        name in request and _parameter_text(request[name]) in values
        for name, values in parameters.items()
    )


def _parameter_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_values(event: TrailEvent, names: Sequence[str]) -> set[str]:
    request = event.request_parameters or {}
    return {
        str(request[name]).strip().lower()
        for name in names
        if isinstance(request.get(name), str) and request[name].strip()
    }


def _followed_events(
    matched: Sequence[TrailEvent], events: Sequence[TrailEvent], follow_up: FollowUp
) -> list[TrailEvent]:
    involved: dict[tuple[str, str | None, str | None], TrailEvent] = {}
    for first in matched:
        for second in events:
            if follow_up.pairs_with(first, second):
                involved[first.dedup_key] = first
                involved[second.dedup_key] = second
    return sort_events(involved.values())


def _events_in_qualifying_windows(
    matched: Sequence[TrailEvent],
    window: timedelta,
    reaches: Callable[[Sequence[TrailEvent]], bool],
) -> list[TrailEvent]:
    """Return the events of every window that reaches the thresholds.

    Each window starts at a matched event and spans `window`; windows that
    overlap contribute their events once.
    """
    selected: list[TrailEvent] = []
    end = 0
    marked_until = 0
    for start, first in enumerate(matched):
        limit = first.event_time + window
        end = max(end, start + 1)
        while end < len(matched) and matched[end].event_time <= limit:
            end += 1
        if reaches(matched[start:end]):
            selected.extend(matched[max(start, marked_until) : end])
            marked_until = end
    return selected


def _describe_events(events: Sequence[TrailEvent]) -> dict[str, Any]:
    names = sorted({event.event_name or "?" for event in events})
    regions = tuple(sorted({event.aws_region for event in events if event.aws_region}))
    first, last = events[0].event_time, events[-1].event_time
    count = f"{len(events)} call" + ("" if len(events) == 1 else "s")
    where = f" in {', '.join(regions)}" if regions else ""
    if last == first:
        when = f"at {format_timestamp(first)}"
    else:
        when = f"from {format_timestamp(first)} to {format_timestamp(last)}"
    denied = sum(1 for event in events if event.error_code)
    failed = f", {denied} of them failed" if denied else ""
    return {
        "event_ids": tuple(event.ref for event in events),
        "summary": f"{count} ({', '.join(names)}) {when}{where}{failed}.",
        "regions": regions,
        "first_seen": first,
        "last_seen": last,
    }


def _timestamp(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment is not None else None


class _Reader:
    """Reads the YAML document into dataclasses, naming the field whenever it is invalid."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, where: str, problem: str) -> CatalogueError:
        return CatalogueError(f"{self.origin}: {where}: {problem}.")

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "must be a mapping")
        return value

    def sequence(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "must be a list")
        return value

    def text(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(where, "must be a non-empty string")
        return value.strip()

    def strings(self, value: Any, where: str) -> list[str]:
        return [self.text(item, where) for item in self.sequence(value, where)]

    def number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.fail(where, "must be a number of 0 or more")
        return float(value)

    def count(self, value: Any, where: str, default: int = 1) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail(where, "must be a whole number of 1 or more")
        return value

    def info(self, item: dict[str, Any], where: str) -> IndicatorInfo:
        indicator_id = self.text(item.get("id"), f"{where}: id")
        where = f"indicator {indicator_id}"
        severity = item.get("severity")
        if severity not in {str(level) for level in Severity}:
            raise self.fail(
                where, f"severity {severity!r} is not one of low, medium, high, critical"
            )
        return IndicatorInfo(
            id=indicator_id,
            title=self.text(item.get("title"), f"{where}: title"),
            severity=Severity(severity),
            description=self.text(item.get("description"), f"{where}: description"),
            source=self.text(item.get("source"), f"{where}: source"),
        )

    def event_indicator(self, value: Any) -> EventIndicator:
        item = self.mapping(value, "an indicator")
        info = self.info(item, "an indicator")
        where = f"indicator {info.id}: match"
        match = self.mapping(item.get("match"), where)
        window = match.get("window_minutes")
        follow = match.get("followed_by")
        return EventIndicator(
            info=info,
            criteria=self.criteria(match, where),
            min_events=self.count(match.get("min_events"), f"{where}: min_events"),
            min_distinct_names=self.count(
                match.get("min_distinct_names"), f"{where}: min_distinct_names"
            ),
            min_regions=self.count(match.get("min_regions"), f"{where}: min_regions"),
            window=None if window is None else self.minutes(window, f"{where}: window_minutes"),
            followed_by=None if follow is None else self.follow_up(follow, f"{where}: followed_by"),
        )

    def criteria(self, match: dict[str, Any], where: str) -> EventCriteria:
        parameters = self.mapping(match.get("parameters") or {}, f"{where}: parameters")
        criteria = EventCriteria(
            calls=self.calls(match.get("calls") or [], f"{where}: calls"),
            user_agents=tuple(
                self.pattern(text, f"{where}: user_agents")
                for text in self.strings(match.get("user_agents") or [], f"{where}: user_agents")
            ),
            error_codes=frozenset(
                self.strings(match.get("error_codes") or [], f"{where}: error_codes")
            ),
            parameters={
                name: frozenset(self.strings(values, f"{where}: parameters: {name}"))
                for name, values in parameters.items()
            },
        )
        if not (criteria.calls or criteria.user_agents or criteria.error_codes):
            raise self.fail(where, "needs at least one of calls, user_agents, error_codes")
        return criteria

    def calls(self, value: Any, where: str) -> tuple[CallSelector, ...]:
        selectors = []
        for item in self.sequence(value, where):
            entry = self.mapping(item, where)
            source = entry.get("source")
            selectors.append(
                CallSelector(
                    event_source=None if source is None else self.text(source, f"{where}: source"),
                    event_names=frozenset(
                        self.strings(entry.get("names") or [], f"{where}: names")
                    ),
                )
            )
        return tuple(selectors)

    def pattern(self, text: str, where: str) -> re.Pattern[str]:
        try:
            return re.compile(text, re.IGNORECASE)
        except re.error as error:
            raise self.fail(
                where, f"{text!r} is not a valid regular expression ({error})"
            ) from error

    def minutes(self, value: Any, where: str) -> timedelta:
        minutes = self.number(value, where)
        if minutes == 0:
            raise self.fail(where, "must be more than 0")
        return timedelta(minutes=minutes)

    def follow_up(self, value: Any, where: str) -> FollowUp:
        item = self.mapping(value, where)
        calls = self.calls(item.get("calls"), f"{where}: calls")
        if not calls:
            raise self.fail(f"{where}: calls", "must name at least one call")
        return FollowUp(
            calls=calls,
            within=self.minutes(item.get("within_minutes"), f"{where}: within_minutes"),
            same_parameters=tuple(
                self.strings(item.get("same_parameters") or [], f"{where}: same_parameters")
            ),
        )

    def benign(self, value: Any) -> BenignFilter:
        item = self.mapping(value, "benign")
        return BenignFilter(
            user_identity_types=frozenset(
                self.strings(item.get("user_identity_types") or [], "benign: user_identity_types")
            ),
            source_ip_suffixes=tuple(
                self.strings(item.get("source_ip_suffixes") or [], "benign: source_ip_suffixes")
            ),
            source_ips=frozenset(self.strings(item.get("source_ips") or [], "benign: source_ips")),
        )

    def sending(self, value: Any) -> SendingIndicators:
        section = self.mapping(value, "sending")
        spike = self.mapping(section.get("spike"), "sending: spike")
        new_region = self.mapping(section.get("new_region"), "sending: new_region")
        reputation = self.mapping(section.get("reputation"), "sending: reputation")
        recent_hours = self.number(
            new_region.get("recent_hours"), "sending: new_region: recent_hours"
        )
        thresholds = SendingThresholds(
            spike_factor=self.number(spike.get("factor"), "sending: spike: factor"),
            spike_min_attempts=self.count(
                spike.get("min_attempts"), "sending: spike: min_attempts"
            ),
            min_baseline_points=self.count(
                spike.get("min_baseline_points"), "sending: spike: min_baseline_points"
            ),
            new_region_recent=timedelta(hours=recent_hours),
            bounce_rate=self.number(
                reputation.get("bounce_rate"), "sending: reputation: bounce_rate"
            ),
            complaint_rate=self.number(
                reputation.get("complaint_rate"), "sending: reputation: complaint_rate"
            ),
            near_fraction=self.number(
                reputation.get("near_fraction"), "sending: reputation: near_fraction"
            ),
            reputation_min_attempts=self.count(
                reputation.get("min_attempts"), "sending: reputation: min_attempts"
            ),
        )
        return SendingIndicators(
            spike=self.info(spike, "sending: spike"),
            new_region=self.info(new_region, "sending: new_region"),
            unused_region=self.info(
                self.mapping(section.get("unused_region"), "sending: unused_region"),
                "sending: unused_region",
            ),
            reputation=self.info(reputation, "sending: reputation"),
            review_pending=self.optional_info(section, "production_review_pending"),
            production_unused_region=self.optional_info(section, "production_access_unused_region"),
            enforcement=self.optional_info(section, "enforcement"),
            thresholds=thresholds,
        )

    def optional_info(self, section: dict[str, Any], name: str) -> IndicatorInfo:
        """Read a sending indicator that a team's file may omit, taking the shipped one then."""
        where = f"sending: {name}"
        item = section.get(name) or _shipped_document()["sending"][name]
        return self.info(self.mapping(item, where), where)
