"""Throughput of `remediate investigate --cloudtrail-logs` on a large trail, beside zcat and jq.

Usage: python bench/investigate_files.py [--records N] [--files N] [--runs N] [--dir DIR]

The first run writes a trail of N records (default 1,000,000) in about 200
gzipped log files, and later runs reuse it. The files are laid out as
CloudTrail delivers them: one line per file, each record starting with
eventVersion. The leaked key made
one record in a thousand, spread over every file, so no file can be skipped
unread. The same trail is read three ways, each to /dev/null:

- `zcat` alone: the floor, decompression only;
- `zcat | jq -c '.Records[] | select(.userIdentity.accessKeyId == KEY)'`;
- `remediate investigate --access-key-id KEY --cloudtrail-logs DIR --output json`.

It prints the median wall time of each, records per second, the peak resident
memory of remediate, and whether the targets hold: at least 5 times jq's
throughput, at most 1.5 times zcat's time, and at most 300 MB of memory.
A second trail, where the key also obtained a session key, measures the
second pass that following derived keys costs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

LEAKED = "AKIAZBENCHLEAKED0001"
SESSION = "ASIAZBENCHSESSION001"
ACCOUNT = "111122223333"
LEAKED_SHARE = 1000  # one record in this many is the leaked key's
TARGET_JQ_RATIO = 5.0
TARGET_ZCAT_RATIO = 1.5
TARGET_MEMORY_MB = 300
REGIONS = ["us-east-1", "eu-west-1", "eu-central-1", "ap-southeast-2", "us-west-2"]
CALLS = [
    ("ec2.amazonaws.com", "DescribeInstances", True),
    ("s3.amazonaws.com", "GetBucketAcl", True),
    ("sts.amazonaws.com", "AssumeRole", False),
    ("kms.amazonaws.com", "Decrypt", True),
    ("iam.amazonaws.com", "ListRoles", True),
    ("lambda.amazonaws.com", "ListFunctions20150331", True),
    ("ses.amazonaws.com", "GetSendQuota", True),
    ("monitoring.amazonaws.com", "PutMetricAlarm", False),
]
LEAKED_CALLS = [
    ("ses.amazonaws.com", "GetSendQuota", True),
    ("ses.amazonaws.com", "ListIdentities", True),
    ("ses.amazonaws.com", "GetAccount", True),
    ("ses.amazonaws.com", "VerifyEmailIdentity", False),
]


@dataclass
class Timing:
    seconds: float
    peak_mb: float | None = None


def main() -> None:
    arguments = parse_arguments()
    work = Path(arguments.dir)
    plain = work / f"plain-{arguments.records}-{arguments.files}"
    derived = work / f"derived-{arguments.records}-{arguments.files}"
    for directory in (plain, derived):
        ensure_trail(directory, arguments.records, arguments.files, derived=directory == derived)

    files = sorted(str(path) for path in plain.glob("*.json.gz"))
    compressed = sum(os.path.getsize(path) for path in files)
    uncompressed = measure_uncompressed(files)
    print(f"trail: {arguments.records:,} records in {len(files)} files, ", end="")
    print(f"{compressed / 1e6:.0f} MB gzipped, {uncompressed / 1e6:.0f} MB of JSON")
    version = sys.version.split()[0]
    print(f"machine: {os.cpu_count()} cores, Python {version}; {arguments.runs} runs")

    zcat = median(arguments.runs, ["zcat", *files])
    jq_filter = f'.Records[] | select(.userIdentity.accessKeyId == "{LEAKED}")'
    jq = median(arguments.runs, ["bash", "-c", 'zcat "$@" | jq -c "$0"', jq_filter, *files])
    ours = median(arguments.runs, investigate_command(plain))
    followed = median(arguments.runs, investigate_command(derived))

    rows = [
        ("zcat alone", zcat),
        ("zcat | jq select", jq),
        ("remediate investigate", ours),
        ("remediate investigate, session key followed", followed),
    ]
    for name, timing in rows:
        rate = arguments.records / timing.seconds
        memory = f", peak {timing.peak_mb:.0f} MB" if timing.peak_mb is not None else ""
        print(f"{name:46} {timing.seconds:6.2f} s  {rate / 1e3:7.0f}k records/s{memory}")

    jq_ratio = jq.seconds / ours.seconds
    zcat_ratio = ours.seconds / zcat.seconds
    assert ours.peak_mb is not None
    print(f"remediate vs jq: {jq_ratio:.1f} times the throughput (target at least 5)")
    print(f"remediate vs zcat: {zcat_ratio:.2f} times the time (target at most 1.5)")
    print(f"remediate peak memory: {ours.peak_mb:.0f} MB (target at most {TARGET_MEMORY_MB})")
    met = (
        jq_ratio >= TARGET_JQ_RATIO
        and zcat_ratio <= TARGET_ZCAT_RATIO
        and ours.peak_mb <= TARGET_MEMORY_MB
    )
    print("targets met" if met else "targets NOT met")
    sys.exit(0 if met else 1)


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--dir",
        default=str(Path(tempfile.gettempdir()) / "remediate-bench-trail"),
        help="where the trails are kept",
    )
    return parser.parse_args()


def ensure_trail(directory: Path, records: int, files: int, *, derived: bool) -> None:
    done = directory / ".complete"
    if done.exists():
        return
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    started = time.perf_counter()
    per_file = records // files
    # A fixed seed, so that every machine benchmarks the same trail.
    generator = random.Random(7)  # noqa: S311
    moment = 1_796_000_000  # 2026-11-30, as a Unix time
    for index in range(files):
        region = REGIONS[index % len(REGIONS)]
        batch = []
        for offset in range(per_file):
            number = index * per_file + offset
            moment += 1
            batch.append(make_record(generator, number, moment, region, derived=derived))
        stamp = time.strftime("%Y%m%dT%H%MZ", time.gmtime(moment))
        name = f"{ACCOUNT}_CloudTrail_{region}_{stamp}_{index:04x}bench.json.gz"
        body = json.dumps({"Records": batch}, separators=(",", ":")).encode()
        (directory / name).write_bytes(gzip.compress(body, compresslevel=6))
    done.write_text("")
    print(f"wrote {directory} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def make_record(
    generator: random.Random, number: int, moment: int, region: str, *, derived: bool
) -> dict[str, object]:
    leaked = number % LEAKED_SHARE == LEAKED_SHARE // 2
    source, name, read_only = (
        LEAKED_CALLS[number % len(LEAKED_CALLS)] if leaked else generator.choice(CALLS)
    )
    key = LEAKED if leaked else f"AKIA{generator.randrange(16**16):016X}"
    response: dict[str, object] | None = None
    if derived and number == LEAKED_SHARE // 2:
        source, name, read_only = "sts.amazonaws.com", "GetSessionToken", False
        response = {"credentials": {"accessKeyId": SESSION, "expiration": "Dec 1, 2026"}}
    elif derived and number % LEAKED_SHARE == LEAKED_SHARE // 4:
        key = SESSION
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
    user = "ses-smtp-user" if key in {LEAKED, SESSION} else f"app-{number % 97}"
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": f"AIDA{number % 9973:016d}",
            "arn": f"arn:aws:iam::{ACCOUNT}:user/{user}",
            "accountId": ACCOUNT,
            "accessKeyId": key,
            "userName": user,
        },
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": f"203.0.113.{number % 251}",
        "userAgent": "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux "
        f"api/{source.split('.')[0]}#1.{number % 40}.0",
        "requestParameters": {
            "maxResults": 100,
            "filterSet": {"items": [{"name": "tag:team", "valueSet": {"items": ["mail"]}}]},
        },
        "responseElements": response,
        "requestID": f"{generator.getrandbits(128):032x}",
        "eventID": f"{generator.getrandbits(128):032x}",
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": ACCOUNT,
        "eventCategory": "Management",
        "tlsDetails": {
            "tlsVersion": "TLSv1.3",
            "cipherSuite": "TLS_AES_128_GCM_SHA256",
            "clientProvidedHostHeader": f"{source.split('.')[0]}.{region}.amazonaws.com",
        },
    }


def measure_uncompressed(files: list[str]) -> int:
    return sum(len(gzip.decompress(Path(path).read_bytes())) for path in files)


def investigate_command(directory: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "remediate",
        "investigate",
        "--access-key-id",
        LEAKED,
        "--cloudtrail-logs",
        str(directory),
        "--output",
        "json",
    ]


def median(runs: int, command: list[str]) -> Timing:
    timings = [run_once(command) for _ in range(runs)]
    peaks = [timing.peak_mb for timing in timings if timing.peak_mb is not None]
    return Timing(
        statistics.median(timing.seconds for timing in timings),
        max(peaks) if peaks else None,
    )


def run_once(command: list[str]) -> Timing:
    started = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        process = subprocess.Popen(command, stdout=sink)
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        sys.exit(f"{command[0]} ... exited with {process.returncode}")
    # ru_maxrss is in kilobytes on Linux.
    peak = usage.ru_maxrss / 1024 if "remediate" in command else None
    return Timing(elapsed, peak)


if __name__ == "__main__":
    main()
