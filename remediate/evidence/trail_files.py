"""CloudTrail log files on disk: `.json` and `.json.gz`, one file or a directory tree.

Reading never stops on a bad file: every file is read, skipped with a reason,
or reported as unreadable with a reason. No AWS call is made.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from remediate.evidence.events import EventFormatError, TrailEvent, deduplicate

GZIP_MAGIC = b"\x1f\x8b"
DIGEST_DIRECTORY = "CloudTrail-Digest"
LOG_SUFFIXES = (".json", ".json.gz")
# Bytes read to decide whether a file with another suffix might hold JSON.
_SNIFF_BYTES = 512


@dataclass(frozen=True)
class FileIssue:
    """A file that was skipped, or could not be read in whole or in part, and why."""

    path: str
    reason: str

    def to_record(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


@dataclass(frozen=True)
class ParsedDocument:
    """The events of one file, or the reason it contains none."""

    events: tuple[TrailEvent, ...] = ()
    skip_reason: str | None = None
    records_rejected: int = 0
    first_rejection: str | None = None


@dataclass(frozen=True)
class TrailFileResult:
    """Events of every readable file, deduplicated and oldest first, and what was not read."""

    events: tuple[TrailEvent, ...]
    records_read: int
    files_read: tuple[str, ...]
    skipped: tuple[FileIssue, ...]
    unreadable: tuple[FileIssue, ...]
    partly_read: tuple[FileIssue, ...] = field(default=())


class UnreadableFileError(Exception):
    """A file could not be read or parsed. The message is the reason shown to the operator."""


def read_trail_files(paths: Iterable[str | os.PathLike[str]]) -> TrailFileResult:
    """Read every CloudTrail log file under the given files and directories.

    A file named directly is read whatever its name. In a directory, files
    ending in `.json` or `.json.gz` are read, and so is any other file that
    starts like JSON or gzip, so that a log saved under another name is not
    silently ignored. Digest files (under `CloudTrail-Digest/`, or recognised
    by their fields) are skipped and listed as skipped.
    """
    events: list[TrailEvent] = []
    files_read: list[str] = []
    skipped: list[FileIssue] = []
    unreadable: list[FileIssue] = []
    partly_read: list[FileIssue] = []

    for path, explicit in _candidate_files(paths, skipped, unreadable):
        name = str(path)
        if not path.is_file():
            # A FIFO or socket in the tree would block a read, so it is never opened.
            skipped.append(FileIssue(name, "not a regular file"))
            continue
        if DIGEST_DIRECTORY in path.parts:
            skipped.append(FileIssue(name, "a CloudTrail digest file, which holds no events"))
            continue
        if not explicit and not _looks_like_log(path):
            skipped.append(FileIssue(name, "neither JSON nor gzip"))
            continue
        try:
            document = parse_trail_document(_read_bytes(path))
        except UnreadableFileError as error:
            unreadable.append(FileIssue(name, str(error)))
            continue
        if document.skip_reason is not None:
            skipped.append(FileIssue(name, document.skip_reason))
            continue
        files_read.append(name)
        events.extend(document.events)
        if document.records_rejected:
            total = document.records_rejected + len(document.events)
            partly_read.append(
                FileIssue(
                    name,
                    f"{document.records_rejected} of {total} records skipped: "
                    f"{document.first_rejection}",
                )
            )

    return TrailFileResult(
        events=tuple(deduplicate(events)),
        records_read=len(events),
        files_read=tuple(files_read),
        skipped=tuple(skipped),
        unreadable=tuple(unreadable),
        partly_read=tuple(partly_read),
    )


def parse_trail_document(data: bytes) -> ParsedDocument:
    """Parse the bytes of one log file, gzipped or not, raising UnreadableFileError on failure.

    Accepted shapes: a trail log `{"Records": [...]}`, the output of
    `aws cloudtrail lookup-events` (`{"Events": [...]}`), a JSON list of
    records, or one record. A digest file yields a skip reason.
    """
    document = _load_json(_decompress(data))
    if isinstance(document, list):
        return _parse_records(document, TrailEvent.from_record)
    if not isinstance(document, dict):
        raise UnreadableFileError(
            f"the file contains a JSON {type(document).__name__}, not CloudTrail records"
        )
    if isinstance(document.get("Records"), list):
        return _parse_records(document["Records"], TrailEvent.from_record)
    if _is_digest(document):
        return ParsedDocument(skip_reason="a CloudTrail digest file, which holds no events")
    if isinstance(document.get("Events"), list):
        return _parse_records(document["Events"], _from_lookup_item)
    if "eventTime" in document:
        return _parse_records([document], TrailEvent.from_record)
    raise UnreadableFileError("the JSON has no Records list, so it is not a CloudTrail log file")


def _candidate_files(
    paths: Iterable[str | os.PathLike[str]],
    skipped: list[FileIssue],
    unreadable: list[FileIssue],
) -> Iterator[tuple[Path, bool]]:
    """Yield (file, named directly) for each file to consider, in a stable order."""
    for argument in paths:
        path = Path(argument)
        if path.is_dir():
            yield from ((file, False) for file in _walk(path, unreadable))
        elif path.is_file():
            yield path, True
        elif path.exists():
            skipped.append(FileIssue(str(path), "not a regular file"))
        else:
            unreadable.append(FileIssue(str(path), "no such file or directory"))


def _walk(directory: Path, unreadable: list[FileIssue]) -> Iterator[Path]:
    def report(error: OSError) -> None:
        unreadable.append(FileIssue(str(error.filename), f"cannot list: {error.strerror}"))

    for root, directories, files in os.walk(directory, onerror=report):
        directories.sort()
        for name in sorted(files):
            yield Path(root) / name


def _looks_like_log(path: Path) -> bool:
    if path.name.endswith(LOG_SUFFIXES):
        return True
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        # Reading it again reports the error as unreadable, with its reason.
        return True
    return head.startswith(GZIP_MAGIC) or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in {b"{", b"["}


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise UnreadableFileError(f"cannot read: {error.strerror}") from error


def _decompress(data: bytes) -> bytes:
    # The content decides, not the suffix: a `.json.gz` saved decompressed still reads.
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:
        raise UnreadableFileError(f"invalid gzip data: {error}") from error


def _load_json(data: bytes) -> Any:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise UnreadableFileError(f"not UTF-8 text (byte {error.start})") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise UnreadableFileError(f"invalid JSON: {error}") from error


def _is_digest(document: dict[str, Any]) -> bool:
    return "digestStartTime" in document and "digestEndTime" in document


def _from_lookup_item(item: object) -> TrailEvent:
    if not isinstance(item, dict):
        raise EventFormatError(f"an Events item is a JSON {type(item).__name__}, not an object")
    return TrailEvent.from_lookup_item(item)


def _parse_records(records: list[Any], parse: Callable[[Any], TrailEvent]) -> ParsedDocument:
    events: list[TrailEvent] = []
    rejected = 0
    first_rejection: str | None = None
    for record in records:
        try:
            events.append(parse(record))
        except EventFormatError as error:
            rejected += 1
            first_rejection = first_rejection or str(error)
    return ParsedDocument(
        events=tuple(events), records_rejected=rejected, first_rejection=first_rejection
    )
