"""CloudTrail log files on disk: `.json` and `.json.gz`, one file or a directory tree.

Reading never stops on a bad file: every file is read, skipped with a reason,
or reported as unreadable with a reason. No AWS call is made.
"""

from __future__ import annotations

import gzip
import json
import os
import zlib
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from remediate.evidence.events import (
    EventFormatError,
    TrailEvent,
    conflicting_copies,
    deduplicate,
)

GZIP_MAGIC = b"\x1f\x8b"
DIGEST_DIRECTORY = "CloudTrail-Digest"
LOG_SUFFIXES = (".json", ".json.gz")
# Bytes read to decide whether a file with another suffix might hold JSON.
_SNIFF_BYTES = 512
# The compact layout CloudTrail delivers: one line, each record starting with eventVersion.
_RECORDS_HEAD = b'{"Records":['
_RECORDS_TAIL = b"]}"
_RECORD_START = b'{"eventVersion":'
_NEXT_RECORD = b'},{"eventVersion":'
_WHITESPACE = b" \t\r\n"


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
    """Events of every readable file, deduplicated and oldest first, and what was not read.

    `conflicts` pairs each record dropped as a copy, although its time differs, with
    the record kept.
    """

    events: tuple[TrailEvent, ...]
    records_read: int
    files_read: tuple[str, ...]
    skipped: tuple[FileIssue, ...]
    unreadable: tuple[FileIssue, ...]
    partly_read: tuple[FileIssue, ...] = field(default=())
    conflicts: tuple[tuple[TrailEvent, TrailEvent], ...] = field(default=())


class UnreadableFileError(Exception):
    """A file could not be read or parsed. The message is the reason shown to the operator."""


def read_trail_files(
    paths: Iterable[str | os.PathLike[str]], key_ids: Collection[str] | None = None
) -> TrailFileResult:
    """Read every CloudTrail log file under the given files and directories.

    A file named directly is read whatever its name. In a directory, files
    ending in `.json` or `.json.gz` are read, and so is any other file that
    starts like JSON or gzip, so that a log saved under another name is not
    silently ignored. Digest files (under `CloudTrail-Digest/`, or recognised
    by their fields) are skipped and listed as skipped.

    With `key_ids`, only records whose text contains one of those access key
    IDs are parsed and returned (see `select_trail_records`). The caller still
    filters by `accessKeyId`, because a record can name a key elsewhere.
    Files are read one at a time, so memory is bounded by the largest file.
    """
    needles = tuple(key.encode() for key in key_ids) if key_ids is not None else None
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
            document = parse_trail_document(_read_bytes(path), needles)
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
        conflicts=tuple(conflicting_copies(events)),
        records_read=len(events),
        files_read=tuple(files_read),
        skipped=tuple(skipped),
        unreadable=tuple(unreadable),
        partly_read=tuple(partly_read),
    )


def parse_trail_document(data: bytes, needles: Sequence[bytes] | None = None) -> ParsedDocument:
    """Parse the bytes of one log file, gzipped or not, raising UnreadableFileError on failure.

    Accepted shapes: a trail log `{"Records": [...]}`, the output of
    `aws cloudtrail lookup-events` (`{"Events": [...]}`), a JSON list of
    records, or one record. A digest file yields a skip reason. With
    `needles`, only records that contain one of them are returned.
    """
    text = _decompress(data)
    if needles is not None:
        selected = select_trail_records(text, needles)
        if selected is not None:
            return _parse_records(selected, TrailEvent.from_record)
    document = _load_json(text)
    if needles is not None:
        return _keep_matching(_parse_document(document), needles)
    return _parse_document(document)


def select_trail_records(text: bytes, needles: Sequence[bytes]) -> list[Any] | None:
    """Return the records of a compact trail log that contain a needle, without parsing the rest.

    CloudTrail writes each log file as one line, `{"Records":[{"eventVersion":...},...]}`,
    and nearly every file of a large trail contains none of the leaked key's records. Such a
    file is only searched. Around each match, the record is cut out between the record
    starts before and after it and parsed alone. Returns None when the file does not have
    this layout or a cut does not parse as exactly one record: the caller then parses the
    whole file. A record that does not contain a needle is not checked.
    """
    first = _skip_space(text, 0)
    if not text.startswith(_RECORDS_HEAD, first):
        return None
    last = _skip_space_back(text, len(text))
    if text[last - len(_RECORDS_TAIL) : last] != _RECORDS_TAIL:
        # A log cut short is unreadable, and the full parse reports where.
        return None
    body_start = first + len(_RECORDS_HEAD)
    body_end = last - len(_RECORDS_TAIL)
    records: dict[int, Any] = {}
    for needle in needles:
        position = text.find(needle, body_start, body_end)
        while position >= 0:
            start = text.rfind(_RECORD_START, body_start, position)
            if start < 0:
                return None
            following = text.find(_NEXT_RECORD, start, body_end)
            end = body_end if following < 0 else following + 1
            # A cut that ends before the match means a record with another layout.
            if end <= position:
                return None
            if start not in records:
                record = _cut_record(text, start, end, body_start)
                if record is None:
                    return None
                records[start] = record
            position = text.find(needle, end, body_end)
    return [records[start] for start in sorted(records)]


def _cut_record(text: bytes, start: int, end: int, body_start: int) -> Any:
    """Parse text[start:end] as one record, or return None if it is not one.

    A record follows the opening bracket or the previous record's closing brace.
    An object nested in a record's parameters can look the same, so the text
    between the previous record start and this one must parse as one record too:
    it does only when `start` is a boundary between top-level records.
    """
    if start != body_start:
        if text[start - 2 : start] != b"},":
            return None
        previous = text.rfind(_NEXT_RECORD, body_start, start - 1)
        previous_start = body_start if previous < 0 else previous + 2
        if _parse_record(text[previous_start : start - 1]) is None:
            return None
    return _parse_record(text[start:end])


def _parse_record(data: bytes) -> Any:
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(record, dict) or "eventTime" not in record:
        return None
    return record


def _skip_space(text: bytes, index: int) -> int:
    if text.startswith(b"\xef\xbb\xbf", index):
        index += 3
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    return index


def _skip_space_back(text: bytes, index: int) -> int:
    while index > 0 and text[index - 1] in _WHITESPACE:
        index -= 1
    return index


def _keep_matching(document: ParsedDocument, needles: Sequence[bytes]) -> ParsedDocument:
    """Keep the events whose record contains a needle, as `select_trail_records` would."""
    if document.skip_reason is not None:
        return document
    keys = [needle.decode() for needle in needles]
    matching = tuple(
        event
        for event in document.events
        if any(key in json.dumps(event.raw, ensure_ascii=False) for key in keys)
    )
    return replace(document, events=matching)


def _parse_document(document: Any) -> ParsedDocument:
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
