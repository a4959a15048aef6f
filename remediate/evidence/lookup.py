"""CloudTrail LookupEvents for one access key across regions, paced and retried.

A region that cannot be read becomes an evidence gap, never an exception, so
one denied or disabled region does not hide what the others hold.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from remediate.aws.cloudtrail import CloudTrailGateway, LookupEventsPage
from remediate.aws.regions import GLOBAL_EVENTS_REGION
from remediate.core.errors import AwsCallError
from remediate.evidence.events import EventFormatError, TrailEvent, deduplicate
from remediate.evidence.gaps import LOOKUP_EVENTS, EvidenceGap, describe_failure

logger = logging.getLogger(__name__)

# LookupEvents allows 2 requests per second per account and region.
REQUESTS_PER_SECOND = 2.0
# Regions read at once. Each has its own rate limit, so this only bounds threads.
MAX_WORKERS = 4
# Attempts of one page when LookupEvents returns a throttling error. botocore's
# own retries come first, inside each attempt.
MAX_ATTEMPTS = 5
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 16.0
# 400 pages are 20,000 events, read in about 3.5 minutes at the rate limit. For a
# busier key, a gap records where the reading stopped.
MAX_PAGES_PER_REGION = 400
THROTTLING_CODES = frozenset(
    {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"}
)


class RateLimiter:
    """Spaces calls at least 1/rate seconds apart, and may be shared between threads."""

    def __init__(
        self,
        rate_per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._interval = 1.0 / rate_per_second
        self._monotonic = monotonic
        self._sleep = sleep
        self._next_slot: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        """Return when the next call may be made, sleeping if it is too early."""
        with self._lock:
            now = self._monotonic()
            slot = now if self._next_slot is None else max(now, self._next_slot)
            self._next_slot = slot + self._interval
        if slot > now:
            self._sleep(slot - now)


@dataclass(frozen=True)
class LookupResult:
    """Events of every region that returned them, deduplicated and oldest first, and the gaps."""

    events: tuple[TrailEvent, ...]
    gaps: tuple[EvidenceGap, ...]
    regions: tuple[str, ...]
    event_counts: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _RegionOutcome:
    region: str
    events: tuple[TrailEvent, ...]
    gaps: tuple[EvidenceGap, ...]


def lookup_regions(regions: Iterable[str]) -> tuple[str, ...]:
    """Return the regions once each, us-east-1 first: IAM and STS events are recorded there."""
    ordered = [GLOBAL_EVENTS_REGION, *regions]
    return tuple(dict.fromkeys(region.strip() for region in ordered if region.strip()))


def lookup_events(
    gateway: CloudTrailGateway,
    access_key_id: str,
    regions: Iterable[str],
    *,
    start_time: datetime | None = None,
    end_time: datetime | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    max_workers: int = MAX_WORKERS,
    max_pages: int = MAX_PAGES_PER_REGION,
) -> LookupResult:
    """Look up the key's management events in every region (us-east-1 always included)."""
    targets = lookup_regions(regions)

    def read(region: str) -> _RegionOutcome:
        limiter = RateLimiter(REQUESTS_PER_SECOND, monotonic=monotonic, sleep=sleep)
        reader = _RegionReader(gateway, access_key_id, region, limiter, sleep, max_pages)
        return reader.read(start_time, end_time)

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(targets)))) as pool:
        outcomes = list(pool.map(read, targets))

    return LookupResult(
        events=tuple(deduplicate(event for outcome in outcomes for event in outcome.events)),
        gaps=tuple(gap for outcome in outcomes for gap in outcome.gaps),
        regions=targets,
        event_counts={outcome.region: len(outcome.events) for outcome in outcomes},
    )


def backoff_seconds(attempt: int) -> float:
    """Return the pause after the given failed attempt (1, 2, 4 ... seconds, at most 16)."""
    return float(min(BACKOFF_FIRST_SECONDS * 2 ** (attempt - 1), BACKOFF_MAX_SECONDS))


class _RegionReader:
    """Reads every page of one region, one request at a time within the rate limit."""

    def __init__(
        self,
        gateway: CloudTrailGateway,
        access_key_id: str,
        region: str,
        limiter: RateLimiter,
        sleep: Callable[[float], None],
        max_pages: int,
    ) -> None:
        self.gateway = gateway
        self.access_key_id = access_key_id
        self.region = region
        self.limiter = limiter
        self.sleep = sleep
        self.max_pages = max_pages

    def read(self, start_time: datetime | None, end_time: datetime | None) -> _RegionOutcome:
        events: list[TrailEvent] = []
        gaps: list[EvidenceGap] = []
        rejected: list[str] = []
        token: str | None = None
        pages = 0

        while True:
            try:
                page = self._page(token, start_time, end_time)
            except AwsCallError as error:
                logger.warning("LookupEvents in %s failed: %s", self.region, error.message)
                gaps.append(self._gap(describe_failure(error), len(events)))
                break
            pages += 1
            for item in page.events:
                try:
                    events.append(TrailEvent.from_lookup_item(item))
                except EventFormatError as error:
                    rejected.append(str(error))
            token = page.next_token
            if token is None:
                break
            if pages >= self.max_pages:
                gaps.append(
                    self._gap(
                        f"stopped after {pages} pages; older events were not read", len(events)
                    )
                )
                break

        if rejected:
            gaps.append(
                EvidenceGap(
                    LOOKUP_EVENTS,
                    f"{len(rejected)} events could not be read: {rejected[0]}",
                    region=self.region,
                )
            )
        return _RegionOutcome(self.region, tuple(events), tuple(gaps))

    def _page(
        self, token: str | None, start_time: datetime | None, end_time: datetime | None
    ) -> LookupEventsPage:
        attempt = 1
        while True:
            self.limiter.wait()
            try:
                return self.gateway.lookup_events_page(
                    self.region,
                    self.access_key_id,
                    next_token=token,
                    start_time=start_time,
                    end_time=end_time,
                )
            except AwsCallError as error:
                if error.code not in THROTTLING_CODES or attempt >= MAX_ATTEMPTS:
                    raise
                pause = backoff_seconds(attempt)
                logger.info(
                    "LookupEvents in %s throttled (attempt %d of %d); retrying in %.0f s",
                    self.region,
                    attempt,
                    MAX_ATTEMPTS,
                    pause,
                )
                self.sleep(pause)
                attempt += 1

    def _gap(self, reason: str, events_read: int) -> EvidenceGap:
        if events_read:
            reason = f"{reason} ({events_read} events were read before that)"
        return EvidenceGap(LOOKUP_EVENTS, reason, region=self.region)
