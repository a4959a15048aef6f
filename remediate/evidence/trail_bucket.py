"""CloudTrail log files that a trail delivered to S3, read for one time window.

A trail writes each file as
`<prefix>/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<file>.json.gz`, and an
organization trail inserts its organization ID: `<prefix>/AWSLogs/o-xxxx/<account>/...`.
The reader finds the account and region folders with delimited listings, then lists
only the day folders of the time window, so a large bucket is never listed whole.
Day folders and file names carry the delivery time (UTC), which comes after the
event, so the reader lists from the day before `since` to the day after `until`
and keeps only the events whose eventTime falls in the window.

Like the local file reader, it never stops on a bad object: every object is
read, skipped with a reason, or reported as unreadable by its s3:// URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from remediate.aws.s3 import S3Gateway, S3Listing
from remediate.core.errors import AwsCallError
from remediate.core.timeutil import format_timestamp, parse_timestamp
from remediate.evidence.events import TrailEvent, deduplicate
from remediate.evidence.gaps import TRAIL_BUCKET, EvidenceGap, describe_failure
from remediate.evidence.trail_files import (
    LOG_SUFFIXES,
    FileIssue,
    UnreadableFileError,
    parse_trail_document,
)

logger = logging.getLogger(__name__)

URL_SCHEME = "s3://"
LOGS_FOLDER = "AWSLogs"
EVENTS_FOLDER = "CloudTrail"
# Folders a trail writes beside CloudTrail/, and why they are not read.
OTHER_FOLDERS = {
    "CloudTrail-Digest": "CloudTrail digest files, which hold no events",
    "CloudTrail-Insight": "CloudTrail Insights events, which no access key makes",
}
ACCOUNT_FOLDER = re.compile(r"\d{12}")
# AWS Organizations IDs are "o-" and 10 to 32 characters, but anonymised samples use fewer.
ORGANIZATION_FOLDER = re.compile(r"o-[a-z0-9]+")
# Bucket names created in us-east-1 before March 2018 may have capitals and
# underscores and up to 255 characters, so the check accepts those as well.
BUCKET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")

# The window read when the operator names none, like LookupEvents' 90 days.
DEFAULT_LOOKBACK = timedelta(days=90)
# Day folders read beyond each end of the window, because they are named by delivery time.
DELIVERY_MARGIN = timedelta(days=1)
# S3 requests made at once, which bounds the threads of a read.
MAX_WORKERS = 8
# NOTE: this bound is remediate's own choice. At an estimated file every five
# minutes per region, a trail logging 17 regions writes about 450,000 files in 90
# days, which take hours to read. Past the bound the newest files are read, and a
# gap names the days left unread.
MAX_OBJECTS = 50_000
# Names shown in a message before "and N more".
MAX_NAMES_SHOWN = 5


@dataclass(frozen=True)
class TrailBucketLocation:
    """A trail's bucket and S3 key prefix, with no slash at either end (empty for no prefix)."""

    bucket: str
    prefix: str = ""

    @property
    def url(self) -> str:
        return f"{URL_SCHEME}{self.bucket}/{self.prefix}"

    @property
    def logs_prefix(self) -> str:
        """The key of the AWSLogs/ folder, ending in a slash."""
        if self.prefix.rsplit("/", 1)[-1] == LOGS_FOLDER:
            # The operator named the AWSLogs folder itself.
            return f"{self.prefix}/"
        return f"{self.prefix}/{LOGS_FOLDER}/" if self.prefix else f"{LOGS_FOLDER}/"

    def object_url(self, key: str) -> str:
        return f"{URL_SCHEME}{self.bucket}/{key}"


def parse_trail_bucket_url(text: str) -> TrailBucketLocation:
    """Read `s3://BUCKET` or `s3://BUCKET/PREFIX`, raising ValueError with the reason."""
    if not text.startswith(URL_SCHEME):
        raise ValueError(
            f"{text!r} is not an S3 URL; write it as s3://BUCKET/PREFIX, with the trail's "
            "bucket and S3 key prefix (aws cloudtrail describe-trails shows both)."
        )
    bucket, _, prefix = text[len(URL_SCHEME) :].partition("/")
    if not BUCKET_NAME.fullmatch(bucket):
        raise ValueError(f"{bucket!r} in {text!r} is not a valid S3 bucket name.")
    return TrailBucketLocation(bucket, prefix.strip("/"))


def trail_window(
    now: datetime, since: datetime | None = None, until: datetime | None = None
) -> tuple[datetime, datetime]:
    """Return the window to read: `until` defaults to now, and `since` to 90 days before `until`."""
    end = parse_timestamp(until if until is not None else now)
    start = parse_timestamp(since) if since is not None else end - DEFAULT_LOOKBACK
    return start, end


def delivery_days(since: datetime, until: datetime) -> list[date]:
    """Return the UTC days whose folders may hold events of [since, until]: one more at each end."""
    first = (parse_timestamp(since) - DELIVERY_MARGIN).date()
    last = (parse_timestamp(until) + DELIVERY_MARGIN).date()
    return [first + timedelta(days=offset) for offset in range((last - first).days + 1)]


@dataclass(frozen=True)
class TrailBucketResult:
    """Events of the keys asked for within the window, deduplicated and oldest first.

    The issues are those of this read only: a later read for more keys reports
    the objects it read again, not the listing's issues a second time.
    """

    events: tuple[TrailEvent, ...]
    objects_read: tuple[str, ...] = ()
    skipped: tuple[FileIssue, ...] = ()
    unreadable: tuple[FileIssue, ...] = ()
    partly_read: tuple[FileIssue, ...] = ()
    gaps: tuple[EvidenceGap, ...] = ()


@dataclass(frozen=True)
class TrailBucketSummary:
    """The bucket, the window and the counts of log files listed and read, for the journal."""

    location: str
    since: datetime
    until: datetime
    objects_listed: int
    objects_read: int

    def to_record(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "since": format_timestamp(self.since),
            "until": format_timestamp(self.until),
            "objects_listed": self.objects_listed,
            "objects_read": self.objects_read,
        }


@dataclass
class _Issues:
    """Objects read, skipped, unreadable or partly read, and gaps, collected during one read."""

    objects_read: list[str] = field(default_factory=list)
    skipped: list[FileIssue] = field(default_factory=list)
    unreadable: list[FileIssue] = field(default_factory=list)
    partly_read: list[FileIssue] = field(default_factory=list)
    gaps: list[EvidenceGap] = field(default_factory=list)

    def result(self, events: Iterable[TrailEvent]) -> TrailBucketResult:
        gaps = list(self.gaps)
        if self.unreadable:
            gaps.append(
                EvidenceGap(
                    TRAIL_BUCKET,
                    f"{len(self.unreadable)} trail log object(s) could not be read; "
                    "see the unreadable files.",
                )
            )
        return TrailBucketResult(
            events=tuple(deduplicate(events)),
            objects_read=tuple(self.objects_read),
            skipped=tuple(self.skipped),
            unreadable=tuple(self.unreadable),
            partly_read=tuple(self.partly_read),
            gaps=tuple(gaps),
        )


@dataclass(frozen=True)
class _ObjectOutcome:
    """One object read: the events kept, every access key ID in it, or why it was not used."""

    index: int
    events: tuple[TrailEvent, ...] = ()
    access_key_ids: frozenset[str] = frozenset()
    skip_reason: str | None = None
    failure: str | None = None
    rejection: str | None = None


class TrailBucketReader:
    """Reads one trail bucket over one time window, keeping the events of the keys asked for.

    The first `read` lists the window's log files, reads every one and notes in
    which files each access key appears. A later `read` for more keys (keys the
    first ones obtained) reads again only the files in which those keys appear.
    `account_ids` and `regions`, when given, limit which folders are read.
    """

    def __init__(
        self,
        gateway: S3Gateway,
        location: TrailBucketLocation,
        *,
        since: datetime,
        until: datetime,
        account_ids: Iterable[str] = (),
        regions: Iterable[str] = (),
        max_workers: int = MAX_WORKERS,
        max_objects: int = MAX_OBJECTS,
    ) -> None:
        self.gateway = gateway
        self.location = location
        self.since = parse_timestamp(since)
        self.until = parse_timestamp(until)
        self.account_ids = frozenset(account_ids)
        self.regions = frozenset(regions)
        self.max_workers = max_workers
        self.max_objects = max_objects
        self._objects: list[str] | None = None
        self._files_by_key: dict[str, set[int]] = {}
        self._asked: set[str] = set()
        self._read_once: set[int] = set()

    @property
    def summary(self) -> TrailBucketSummary:
        return TrailBucketSummary(
            location=self.location.url,
            since=self.since,
            until=self.until,
            objects_listed=len(self._objects or ()),
            objects_read=len(self._read_once),
        )

    def read(self, access_key_ids: Iterable[str]) -> TrailBucketResult:
        """Return the events made with the keys in the window, with what could not be read."""
        wanted = frozenset(access_key_ids) - self._asked
        self._asked.update(wanted)
        issues = _Issues()
        if self._objects is None:
            self._objects = self._list_window(issues)
            targets: Sequence[int] = range(len(self._objects))
        else:
            targets = sorted({index for key in wanted for index in self._files_by_key.get(key, ())})
        if not wanted or not targets:
            return issues.result(())
        logger.info(
            "Reading %d trail log object(s) from %s for %d key(s)",
            len(targets),
            self.location.url,
            len(wanted),
        )
        events = self._read_objects(targets, wanted, issues)
        return issues.result(events)

    # --- listing ---------------------------------------------------------------------

    def _list_window(self, issues: _Issues) -> list[str]:
        root = self.location.logs_prefix
        top = self._list(root, issues)
        if top is None:
            return []
        if not top.keys and not top.common_prefixes:
            issues.gaps.append(
                EvidenceGap(
                    TRAIL_BUCKET,
                    f"No CloudTrail logs were found under {self._url(root)}. Give the trail's "
                    "bucket and S3 key prefix, the part of the key before AWSLogs/.",
                )
            )
            return []
        accounts = self._account_folders(root, top, issues)
        folders = [
            folder for account in accounts for folder in self._region_folders(account, issues)
        ]
        return self._list_days(folders, issues)

    def _account_folders(self, root: str, listing: S3Listing, issues: _Issues) -> list[str]:
        folders: list[str] = []
        for prefix in listing.common_prefixes:
            name = _folder_name(prefix)
            if ACCOUNT_FOLDER.fullmatch(name):
                folders.append(prefix)
            elif ORGANIZATION_FOLDER.fullmatch(name):
                folders.extend(self._organization_accounts(prefix, issues))
            else:
                issues.skipped.append(
                    FileIssue(self._url(prefix), "not an account or organization folder")
                )
        issues.skipped.extend(
            FileIssue(self._url(key), "not inside an account folder") for key in listing.keys
        )
        if not self.account_ids:
            return folders

        kept = [folder for folder in folders if _folder_name(folder) in self.account_ids]
        others = [_folder_name(folder) for folder in folders if folder not in kept]
        owners = ", ".join(sorted(self.account_ids))
        if others:
            issues.skipped.append(
                FileIssue(
                    self._url(root),
                    f"{len(others)} other account folder(s) not read ({_names(others)}), "
                    f"because the key belongs to {owners}",
                )
            )
        if not kept:
            issues.gaps.append(
                EvidenceGap(
                    TRAIL_BUCKET,
                    f"{self._url(root)} has no folder of account {owners}, so this trail "
                    "does not log the key's account.",
                )
            )
        return kept

    def _organization_accounts(self, organization: str, issues: _Issues) -> list[str]:
        listing = self._list(organization, issues)
        if listing is None:
            return []
        accounts = []
        for prefix in listing.common_prefixes:
            if ACCOUNT_FOLDER.fullmatch(_folder_name(prefix)):
                accounts.append(prefix)
            else:
                issues.skipped.append(FileIssue(self._url(prefix), "not an account folder"))
        return accounts

    def _region_folders(self, account: str, issues: _Issues) -> list[tuple[str, str]]:
        """Return (region, folder) for each region folder under the account's CloudTrail/."""
        listing = self._list(account, issues)
        if listing is None:
            return []
        events_folder = None
        for prefix in listing.common_prefixes:
            name = _folder_name(prefix)
            if name == EVENTS_FOLDER:
                events_folder = prefix
            else:
                reason = OTHER_FOLDERS.get(name, "not a folder of CloudTrail events")
                issues.skipped.append(FileIssue(self._url(prefix), reason))
        issues.skipped.extend(
            FileIssue(self._url(key), "not inside the CloudTrail/ folder") for key in listing.keys
        )
        if events_folder is None:
            return []
        regions = self._list(events_folder, issues)
        if regions is None:
            return []

        folders = [(_folder_name(prefix), prefix) for prefix in regions.common_prefixes]
        if self.regions:
            others = [region for region, _ in folders if region not in self.regions]
            if others:
                issues.skipped.append(
                    FileIssue(
                        self._url(events_folder),
                        f"{len(others)} region folder(s) not read ({_names(others)}), "
                        "because they are outside the regions investigated",
                    )
                )
            folders = [(region, prefix) for region, prefix in folders if region in self.regions]
        return folders

    def _list_days(self, folders: Sequence[tuple[str, str]], issues: _Issues) -> list[str]:
        days = delivery_days(self.since, self.until)
        tasks = [
            (region, day, f"{folder}{day:%Y/%m/%d}/") for region, folder in folders for day in days
        ]

        def list_day(task: tuple[str, date, str]) -> S3Listing | AwsCallError:
            try:
                return self.gateway.list_objects(self.location.bucket, task[2])
            except AwsCallError as error:
                return error

        logger.info("Listing %d day folder(s) under %s", len(tasks), self.location.url)
        dated: list[tuple[date, str]] = []
        failures: dict[str, list[AwsCallError]] = {}
        with ThreadPoolExecutor(max_workers=self._workers(len(tasks))) as pool:
            for (region, day, _), outcome in zip(tasks, pool.map(list_day, tasks), strict=True):
                if isinstance(outcome, AwsCallError):
                    failures.setdefault(region, []).append(outcome)
                    continue
                for key in outcome.keys:
                    if key.endswith(LOG_SUFFIXES):
                        dated.append((day, key))
                    else:
                        issues.skipped.append(
                            FileIssue(self._url(key), "not a CloudTrail log file (.json.gz)")
                        )

        for region, errors in failures.items():
            logger.warning("Listing trail logs of %s failed: %s", region, errors[0].message)
            issues.gaps.append(
                EvidenceGap(
                    TRAIL_BUCKET,
                    f"{len(errors)} of {len(days)} day folders could not be listed: "
                    f"{describe_failure(errors[0])}",
                    region=region,
                )
            )
        return self._newest(dated, issues)

    def _newest(self, dated: list[tuple[date, str]], issues: _Issues) -> list[str]:
        if len(dated) <= self.max_objects:
            return [key for _, key in dated]
        kept = sorted(dated, reverse=True)[: self.max_objects]
        oldest = min(day for day, _ in kept)
        issues.gaps.append(
            EvidenceGap(
                TRAIL_BUCKET,
                f"{len(dated)} log files were delivered in the window, and only the newest "
                f"{self.max_objects} (from {oldest:%Y-%m-%d} on) were read. Run again with "
                f"--until {oldest:%Y-%m-%d} to read the older ones.",
            )
        )
        return [key for _, key in sorted(kept)]

    def _list(self, prefix: str, issues: _Issues) -> S3Listing | None:
        try:
            return self.gateway.list_objects(self.location.bucket, prefix, delimiter="/")
        except AwsCallError as error:
            logger.warning("Listing %s failed: %s", self._url(prefix), error.message)
            issues.gaps.append(EvidenceGap(TRAIL_BUCKET, describe_failure(error)))
            return None

    # --- reading ---------------------------------------------------------------------

    def _read_objects(
        self, targets: Sequence[int], wanted: frozenset[str], issues: _Issues
    ) -> list[TrailEvent]:
        objects = self._objects or []
        events: list[TrailEvent] = []

        def read_one(index: int) -> _ObjectOutcome:
            return self._read_object(index, objects[index], wanted)

        with ThreadPoolExecutor(max_workers=self._workers(len(targets))) as pool:
            for outcome in pool.map(read_one, targets):
                url = self._url(objects[outcome.index])
                if outcome.failure is not None:
                    issues.unreadable.append(FileIssue(url, outcome.failure))
                    continue
                if outcome.skip_reason is not None:
                    issues.skipped.append(FileIssue(url, outcome.skip_reason))
                    continue
                issues.objects_read.append(url)
                if outcome.rejection is not None:
                    issues.partly_read.append(FileIssue(url, outcome.rejection))
                self._read_once.add(outcome.index)
                for key in outcome.access_key_ids:
                    self._files_by_key.setdefault(key, set()).add(outcome.index)
                events.extend(outcome.events)
        return events

    def _read_object(self, index: int, key: str, wanted: frozenset[str]) -> _ObjectOutcome:
        try:
            document = parse_trail_document(
                self.gateway.get_object_bytes(self.location.bucket, key)
            )
        except AwsCallError as error:
            return _ObjectOutcome(index, failure=describe_failure(error))
        except UnreadableFileError as error:
            return _ObjectOutcome(index, failure=str(error))
        if document.skip_reason is not None:
            return _ObjectOutcome(index, skip_reason=document.skip_reason)

        rejection = None
        if document.records_rejected:
            total = document.records_rejected + len(document.events)
            rejection = (
                f"{document.records_rejected} of {total} records skipped: "
                f"{document.first_rejection}"
            )
        kept = tuple(
            event
            for event in document.events
            if event.access_key_id in wanted and self.since <= event.event_time <= self.until
        )
        key_ids = frozenset(event.access_key_id for event in document.events if event.access_key_id)
        return _ObjectOutcome(index, events=kept, access_key_ids=key_ids, rejection=rejection)

    def _workers(self, tasks: int) -> int:
        return max(1, min(self.max_workers, tasks))

    def _url(self, key: str) -> str:
        return self.location.object_url(key)


def _folder_name(prefix: str) -> str:
    """Return the last folder of a common prefix such as `a/AWSLogs/111122223333/`."""
    return prefix.rstrip("/").rsplit("/", 1)[-1]


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_SHOWN])
    more = len(names) - MAX_NAMES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown
