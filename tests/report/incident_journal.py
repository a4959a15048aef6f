"""A whole incident's journal and evidence bundle, written with fixed IDs and times.

It fills every section the report shows: findings with their events, sending in
three regions with an abuse window, emergency containment, a rotation, two
consumers and one left behind, the watch, the deactivation, the eradication of
what the attacker created, a deferred deletion and a sealed evidence bundle.
`hostile` goes into every field an attacker controls.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from remediate.core.records import RecordType
from remediate.engine.evidence_bundle import EvidenceBundle
from remediate.engine.journal import Journal
from tests.helpers import FixedClock

KEY = "AKIAIOSFODNN7EXAMPLE"
NEW_KEY = "AKIAI44QH8DHBEXAMPLE"
ACCOUNT = "111122223333"
RESPONDER = f"arn:aws:iam::{ACCOUNT}:user/responder"
STARTED = datetime(2026, 12, 4, 3, 0, 0, tzinfo=UTC)
# The report's own clock: one hour after the incident was opened.
REPORTED = datetime(2026, 12, 4, 4, 0, 0, tzinfo=UTC)
STEPS = [
    ("identify", "Identify the key, its account and its owner"),
    ("investigate", "Investigate what the key did"),
    ("contain", "Stop the damage now"),
    ("find-consumers", "Find the consumers that hold the key"),
    ("rotate", "Create the replacement key"),
    ("update-consumers", "Switch every consumer to the new credential"),
    ("watch", "Watch the cut-over"),
    ("deactivate", "Deactivate the leaked key"),
    ("eradicate", "Remove what the attacker left behind"),
    ("delete-old-key", "Delete the old key after the watch window"),
    ("report", "Write the incident report"),
]
USER_AGENT = "TruffleHog"
SECRET_CONSUMER = {"kind": "secretsmanager", "name": "prod/mailer/smtp", "region": "eu-west-1"}
FILE_CONSUMER = {"kind": "file", "name": "/srv/mailer/.env", "region": None}
SOURCES = {"Create": "iam.amazonaws.com", "GetCal": "sts.amazonaws.com"}
SDK_AGENT = "Boto3/1.34.69 md/Botocore#1.34.69 lang/python#3.11.2"


class Recorder:
    """Appends journal records one second apart, so every time in the report is known."""

    def __init__(self, directory: Path) -> None:
        self.clock = FixedClock(STARTED)
        self.journal = Journal.open(directory, self.clock)
        self.directory = directory
        self.calls = 0

    def add(self, record_type: str, **fields: Any) -> None:
        self.clock.advance(1)
        self.journal.append(record_type, **fields)

    def step(self, step: str, status: str, summary: str, outputs: dict[str, Any]) -> None:
        self.add(
            RecordType.STEP_FINISHED,
            step=step,
            kind=step,
            status=status,
            summary=summary,
            outputs=outputs,
        )

    def change(
        self,
        step: str,
        service: str,
        operation: str,
        region: str | None,
        resource: str,
        description: str,
        undo: str,
        params: dict[str, Any] | None = None,
    ) -> None:
        """Journal one successful change: its intent, then its result with a request ID."""
        self.calls += 1
        call_id = f"{step}#{self.calls}"
        self.add(
            RecordType.AWS_INTENT,
            step=step,
            call_id=call_id,
            service=service,
            operation=operation,
            region=region,
            resource=resource,
            description=description,
            mutating=True,
            params=params or {},
            undo=undo,
        )
        self.add(
            RecordType.AWS_RESULT,
            step=step,
            call_id=call_id,
            ok=True,
            request_id=f"req-{self.calls:04d}",
            details={},
        )


def write_incident(directory: Path, hostile: str = "mallory") -> Journal:
    """Write the incident into `directory`: the journal and the evidence bundle."""
    directory.mkdir(parents=True, exist_ok=True)
    recorder = Recorder(directory)
    recorder.add(
        RecordType.INCIDENT_OPENED,
        incident_id="20261204T030000Z-AKIAIOSFODNN7EXAMPLE",
        access_key_id=KEY,
        mode="run",
        scenario=None,
        endpoint=None,
        playbook={
            "name": "ses-key-leak",
            "steps": [{"id": step, "kind": step, "title": title} for step, title in STEPS],
        },
        operator={"arn": RESPONDER, "account": ACCOUNT},
    )
    _identify(recorder, hostile)
    _investigate(recorder, hostile)
    _contain(recorder)
    _rotate(recorder, hostile)
    _finish(recorder, hostile)
    return recorder.journal


def _identify(recorder: Recorder, hostile: str) -> None:
    recorder.add(RecordType.STEP_STARTED, step="identify", kind="identify", title=STEPS[0][1])
    recorder.step(
        "identify",
        "ok",
        f"{KEY} belongs to IAM user {hostile} in account {ACCOUNT}; it is Active.",
        {
            "account": ACCOUNT,
            "temporary": False,
            "user_name": hostile,
            "access_key": {
                "access_key_id": KEY,
                "status": "Active",
                "create_date": "2025-10-30T09:30:12Z",
                "age_days": 400,
                "last_used_date": "2026-12-04T01:40:00Z",
                "last_used_service": "ses",
                "last_used_region": "ap-southeast-2",
            },
            "ses_send_sources": ["inline AmazonSesSendingAccess"],
            "quarantine_policies": [{"name": "AWSCompromisedKeyQuarantineV3"}],
        },
    )


def _event(
    event_id: str, time: str, name: str, region: str, agent: str, **params: Any
) -> dict[str, Any]:
    return {
        "eventID": event_id,
        "eventTime": time,
        "eventName": name,
        "eventSource": SOURCES.get(name[:6], "ses.amazonaws.com"),
        "awsRegion": region,
        "sourceIPAddress": "203.0.113.45",
        "userAgent": agent,
        "accessKeyId": KEY,
        "requestParameters": params or None,
    }


def _investigate(recorder: Recorder, hostile: str) -> None:
    recorder.add(RecordType.STEP_STARTED, step="investigate", kind="investigate", title=STEPS[1][1])
    us_east = [
        _event("e-1", "2026-12-01T17:48:39Z", "GetCallerIdentity", "us-east-1", USER_AGENT),
        _event("e-4", "2026-12-04T00:40:00Z", "CreateUser", "us-east-1", hostile, userName=hostile),
        _event(
            "e-5",
            "2026-12-04T00:41:00Z",
            "CreateLoginProfile",
            "us-east-1",
            hostile,
            userName=hostile,
        ),
    ]
    sydney = [
        _event(
            "e-2",
            "2026-12-04T00:24:00Z",
            "PutAccountDetails",
            "ap-southeast-2",
            SDK_AGENT,
            websiteURL="https://notice-center.example.net",
            productionAccessEnabled=True,
        ),
        _event(
            "e-3",
            "2026-12-04T00:26:14Z",
            "VerifyEmailIdentity",
            "ap-southeast-2",
            hostile,
            emailAddress=hostile,
        ),
    ]
    for region, events in (("us-east-1", us_east), ("ap-southeast-2", sydney)):
        recorder.add(
            RecordType.EVENTS,
            step="investigate",
            source="cloudtrail:LookupEvents",
            region=region,
            events=events,
        )

    recorder.add(RecordType.SENDING, step="investigate", **_sydney_sending())
    recorder.add(RecordType.SENDING, step="investigate", **_ireland_sending())
    recorder.add(RecordType.SENDING, step="investigate", **_quiet_sending("us-east-1"))

    findings = [
        ("ses-sandbox-exit", "high", "SES production access requested", ["e-2"], []),
        ("iam-persistence", "high", "IAM user created with the key", ["e-4", "e-5"], []),
        ("scanner-user-agent", "medium", "Secret scanner in the user agent", ["e-1"], []),
        ("ses-identity-verification", "medium", "SES sender identity verified", ["e-3"], []),
        (
            "ses-sending-new-region",
            "medium",
            "Sending in a region with no sending history",
            [],
            ["ap-southeast-2@2026-12-04T01:00:00Z", "ap-southeast-2@2026-12-04T01:15:00Z"],
        ),
    ]
    for finding_id, severity, title, event_ids, data_points in findings:
        recorder.add(
            RecordType.FINDING,
            step="investigate",
            id=finding_id,
            severity=severity,
            title=title,
            description=f"{title}: {hostile}.",
            source="Wiz Research",
            event_ids=event_ids,
            data_points=data_points,
        )
    recorder.add(
        RecordType.GAP,
        step="investigate",
        source="ses:SMTP",
        region=None,
        reason="Mail sent through SMTP is never logged in CloudTrail.",
        standing=True,
    )
    recorder.add(
        RecordType.GAP,
        step="investigate",
        source="cloudtrail:LookupEvents",
        region="eu-central-1",
        reason=f"AccessDenied: {hostile}",
        standing=False,
    )
    recorder.add(
        RecordType.VERDICT,
        step="investigate",
        verdict="compromised",
        reasons=[f"IAM user {hostile} created with the key (iam-persistence, high)."],
    )

    bundle = EvidenceBundle(recorder.directory, recorder.clock)
    for name, data in (
        ("cloudtrail-events", {"Records": us_east + sydney}),
        ("iam-state", {"user_name": hostile, "access_key_id": KEY}),
    ):
        path, digest = bundle.write(name, data)
        recorder.add(RecordType.EVIDENCE_FILE, step="investigate", name=path.name, sha256=digest)
    recorder.step(
        "investigate",
        "ok",
        "verdict compromised: 5 finding(s) from 5 event(s)",
        {"verdict": "compromised"},
    )


def _sydney_sending() -> dict[str, Any]:
    points = [
        _point("2026-12-04T01:00:00Z", 64, 9, 1),
        _point("2026-12-04T01:15:00Z", 71, 12, 0),
        _point("2026-12-04T01:30:00Z", 58, 7, 2),
    ]
    return {
        "region": "ap-southeast-2",
        "points": points,
        "quota": {"max_24_hour_send": 200.0, "max_send_rate": 1.0, "sent_last_24_hours": 193.0},
        "totals": {"bounce_rate": 28 / 193, "complaint_rate": 3 / 193},
        "aws_reputation": {"bounce_rate": 0.081, "complaint_rate": 0.0042},
        "account": {
            "sending_enabled": True,
            "production_access_enabled": False,
            "enforcement_status": "HEALTHY",
            "review_status": "PENDING",
            "review_case_id": "5786355069",
            "mail_type": "MARKETING",
            "website_url": "https://notice-center.example.net",
        },
        "flags": [
            {
                "kind": "new-region",
                "description": "all 193 delivery attempts fall in the last 72 hours",
                "start": "2026-12-04T01:00:00Z",
                "end": "2026-12-04T01:30:00Z",
            },
            {
                "kind": "production-review-pending",
                "description": "a production-access review is pending (case 5786355069)",
                "start": None,
                "end": None,
            },
        ],
        "abuse_window": {"start": "2026-12-04T01:00:00Z", "end": "2026-12-04T01:30:00Z"},
    }


def _ireland_sending() -> dict[str, Any]:
    """The team's own mail: office hours on weekdays, for the two weeks the statistics cover."""
    points = []
    day = datetime(2026, 11, 20, tzinfo=UTC)
    while day < datetime(2026, 12, 4, tzinfo=UTC):
        if day.weekday() < 5:
            for quarter in range(40):
                moment = day + timedelta(hours=8, minutes=15 * quarter)
                points.append(_point(moment.strftime("%Y-%m-%dT%H:%M:%SZ"), 3 + quarter % 5, 0, 0))
        day += timedelta(days=1)
    return {
        "region": "eu-west-1",
        "points": points,
        "quota": {"max_24_hour_send": 50000.0, "max_send_rate": 14.0, "sent_last_24_hours": 0.0},
        "totals": {},
        "aws_reputation": {"bounce_rate": None, "complaint_rate": None},
        "account": {
            "sending_enabled": True,
            "production_access_enabled": True,
            "enforcement_status": "HEALTHY",
            "review_status": None,
        },
        "flags": [],
        "abuse_window": None,
    }


def _quiet_sending(region: str) -> dict[str, Any]:
    return {
        "region": region,
        "points": [],
        "quota": None,
        "totals": {},
        "aws_reputation": {},
        "account": None,
        "flags": [],
        "abuse_window": None,
    }


def _point(timestamp: str, attempts: int, bounces: int, complaints: int) -> dict[str, Any]:
    return {
        "timestamp": timestamp,
        "delivery_attempts": attempts,
        "bounces": bounces,
        "complaints": complaints,
        "rejects": 0,
    }


def _contain(recorder: Recorder) -> None:
    recorder.add(RecordType.STEP_STARTED, step="contain", kind="contain", title=STEPS[2][1])
    recorder.add(
        RecordType.ANSWER,
        step="contain",
        question="contain.pause-sending",
        value=True,
        source="approval",
    )
    # The evidence is sealed just before the first change to AWS, as the runner does.
    bundle = EvidenceBundle(recorder.directory, recorder.clock)
    sealed = bundle.seal(changes_started=False)
    assert sealed is not None
    manifest, digest = sealed
    recorder.add(
        RecordType.EVIDENCE_SEALED, step="contain", manifest_sha256=digest, files=manifest["files"]
    )
    undo = "aws sesv2 put-account-sending-attributes --region ap-southeast-2 --sending-enabled"
    recorder.change(
        "contain",
        "sesv2",
        "PutAccountSendingAttributes",
        "ap-southeast-2",
        "ap-southeast-2",
        "pause SES sending in the region",
        undo,
    )
    recorder.step(
        "contain",
        "ok",
        "SES sending is paused in ap-southeast-2.",
        {
            "actions": [
                {
                    "action": "pause-sending",
                    "target": f"SES account {ACCOUNT}",
                    "regions": ["ap-southeast-2"],
                    "reason": "the abuse window is in ap-southeast-2, a region the team never uses",
                    "undo": undo,
                    "undone": False,
                }
            ]
        },
    )


def _rotate(recorder: Recorder, hostile: str) -> None:
    _find_consumers(recorder)
    _create_key(recorder, hostile)
    _update_consumers(recorder)


def _find_consumers(recorder: Recorder) -> None:
    recorder.add(
        RecordType.STEP_STARTED, step="find-consumers", kind="find-consumers", title=STEPS[3][1]
    )
    recorder.step(
        "find-consumers",
        "ok",
        "2 consumer(s) will be switched to the new key.",
        {
            "consumers": [SECRET_CONSUMER, FILE_CONSUMER],
            "left_behind": [
                {"name": "legacy/smtp", "region": "us-east-1", "reason": "holds the key in a URL"}
            ],
        },
    )


def _create_key(recorder: Recorder, hostile: str) -> None:
    recorder.add(RecordType.STEP_STARTED, step="rotate", kind="rotate", title=STEPS[4][1])
    recorder.change(
        "rotate",
        "iam",
        "CreateAccessKey",
        None,
        hostile,
        "create the replacement key",
        f"aws iam delete-access-key --user-name {hostile} --access-key-id {NEW_KEY}",
    )
    recorder.change(
        "rotate",
        "secretsmanager",
        "CreateSecret",
        "us-east-1",
        "remediate/incident-1",
        "write the new key to the escrow",
        "aws secretsmanager delete-secret --region us-east-1 --secret-id remediate/incident-1",
    )
    recorder.step(
        "rotate",
        "ok",
        f"New key {NEW_KEY} works.",
        {
            "user_name": hostile,
            "new_access_key_id": NEW_KEY,
            "escrow": {"region": "us-east-1", "name": "remediate/incident-1"},
        },
    )


def _update_consumers(recorder: Recorder) -> None:
    recorder.add(
        RecordType.STEP_STARTED, step="update-consumers", kind="update-consumers", title=STEPS[5][1]
    )
    recorder.change(
        "update-consumers",
        "secretsmanager",
        "UpdateSecretVersionStage",
        "eu-west-1",
        "prod/mailer/smtp",
        "make the staged version AWSCURRENT",
        "aws secretsmanager update-secret-version-stage --region eu-west-1 "
        "--secret-id prod/mailer/smtp --version-stage AWSCURRENT",
    )
    recorder.change(
        "update-consumers",
        "file",
        "Write",
        None,
        "/srv/mailer/.env",
        "rewrite the two values in place",
        "cp /srv/mailer/.env.remediate-incident-1.bak /srv/mailer/.env",
    )
    recorder.add(
        RecordType.CHECK,
        step="update-consumers",
        name="consumer:prod/mailer/smtp",
        passed=True,
        detail=f"prod/mailer/smtp (secretsmanager, eu-west-1): AWSCURRENT "
        f"holds {NEW_KEY} (read back)",
    )
    recorder.add(
        RecordType.CHECK,
        step="update-consumers",
        name="consumer:/srv/mailer/.env",
        passed=True,
        detail=f"/srv/mailer/.env (file): holds {NEW_KEY} (read back)",
    )
    recorder.step(
        "update-consumers",
        "ok",
        f"2 consumer(s) now use {NEW_KEY}.",
        {
            "consumers": [
                {"consumer": SECRET_CONSUMER, "summary": "reads version v-2 as AWSCURRENT"},
                {
                    "consumer": FILE_CONSUMER,
                    "path": "/srv/mailer/.env",
                    "backup_path": "/srv/mailer/.env.remediate-incident-1.bak",
                    "summary": "SMTP_USER and SMTP_PASSWORD rewritten in /srv/mailer/.env",
                },
            ],
            "switched_at": "2026-12-04T03:00:50Z",
        },
    )


def _finish(recorder: Recorder, hostile: str) -> None:
    recorder.add(RecordType.STEP_STARTED, step="watch", kind="watch", title=STEPS[6][1])
    recorder.step(
        "watch",
        "ok",
        f"{KEY} shows no use since the consumers were switched.",
        {
            "minutes": 0,
            "switched_at": "2026-12-04T03:00:50Z",
            "observations": [
                {
                    "at": "2026-12-04T03:01:00Z",
                    "old": {"last_used_date": "2026-12-04T01:40:00Z"},
                    "new": {"last_used_date": None},
                }
            ],
            "old_key_used_after_switch": False,
        },
    )
    recorder.add(RecordType.STEP_STARTED, step="deactivate", kind="deactivate", title=STEPS[7][1])
    recorder.add(
        RecordType.ANSWER,
        step="deactivate",
        question="deactivate.confirm",
        value=True,
        source="approval",
    )
    recorder.change(
        "deactivate",
        "iam",
        "UpdateAccessKey",
        None,
        KEY,
        "deactivate the leaked key",
        f"aws iam update-access-key --user-name {hostile} --access-key-id {KEY} --status Active",
        {"UserName": hostile, "AccessKeyId": KEY, "Status": "Inactive"},
    )
    recorder.step(
        "deactivate", "ok", f"{KEY} is now Inactive.", {"access_key_id": KEY, "status": "Inactive"}
    )

    recorder.add(RecordType.STEP_STARTED, step="eradicate", kind="eradicate", title=STEPS[8][1])
    recorder.change(
        "eradicate",
        "iam",
        "DeleteLoginProfile",
        None,
        hostile,
        "remove the console password the attacker set",
        "",
    )
    recorder.change(
        "eradicate",
        "iam",
        "DeleteUser",
        None,
        hostile,
        "remove the IAM user the attacker created",
        "",
    )
    created_user = {
        "eventID": "e-4",
        "eventName": "CreateUser",
        "eventTime": "2026-12-04T00:40:00Z",
    }
    recorder.step(
        "eradicate",
        "ok",
        "Removed 2 item(s) the attacker created; kept 1.",
        {
            "items": [
                {
                    "kind": "login-profile",
                    "name": hostile,
                    "region": None,
                    "created_by": {
                        "eventID": "e-5",
                        "eventName": "CreateLoginProfile",
                        "eventTime": "2026-12-04T00:41:00Z",
                    },
                    "action": "removed",
                    "undo": None,
                },
                {
                    "kind": "iam-user",
                    "name": hostile,
                    "region": None,
                    "created_by": created_user,
                    "action": "removed",
                    "undo": f"aws iam create-user --user-name {hostile}",
                },
                {
                    "kind": "ses-identity",
                    "name": hostile,
                    "region": "ap-southeast-2",
                    "created_by": {
                        "eventID": "e-3",
                        "eventName": "VerifyEmailIdentity",
                        "eventTime": "2026-12-04T00:26:14Z",
                    },
                    "action": "kept",
                    "undo": None,
                },
            ]
        },
    )

    recorder.add(
        RecordType.STEP_STARTED, step="delete-old-key", kind="delete-old-key", title=STEPS[9][1]
    )
    recorder.add(
        RecordType.STEP_DEFERRED,
        step="delete-old-key",
        kind="delete-old-key",
        summary=f"{KEY} can be deleted after 2026-12-11T03:01:00Z.",
        due="2026-12-11T03:01:00Z",
        outputs={},
    )
