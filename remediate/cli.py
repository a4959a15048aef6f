"""The `remediate` command line: parse options, build the pieces, call one function, map errors.

Only click is imported at module level, so that `remediate --help` stays fast;
boto3, moto and the engine are imported inside the commands that need them.
"""

from __future__ import annotations

import functools
import logging
import re
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from remediate import __version__
from remediate.core.errors import (
    ExitCode,
    InputRequiredError,
    InterruptedRun,
    RemediateError,
    UsageError,
)
from remediate.core.secrets import ACCESS_KEY_ID

if TYPE_CHECKING:
    from remediate.core.interaction import Console, Prompter
    from remediate.engine.answers import AnswerPolicy

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("remediate")

# IAM issues secret access keys of 40 characters from base64's alphabet.
SECRET_ALPHABET = re.compile(r"[A-Za-z0-9/+]+")
SECRET_LENGTH = 40

NO_TERMINAL_MESSAGE = (
    "No terminal is attached, so remediate cannot ask its questions. Pass --yes to accept "
    "every default, or --answers FILE to answer them from a file (see the README)."
)


class State:
    """Options of the `remediate` group, shared with every command.

    `prompter` replaces the terminal prompter; tests pass one through
    `CliRunner.invoke(obj=State(prompter=...))`.
    """

    def __init__(self, debug: bool = False, prompter: Prompter | None = None) -> None:
        self.debug = debug
        self.prompter = prompter


def handle_errors(command: F) -> F:
    """Map errors to exit codes: a message and a next step, never a traceback without --debug."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = _debug_enabled()
        try:
            return command(*args, **kwargs)
        except RemediateError as error:
            if debug:
                _print_traceback()
            _fail(error.message, error.next_step)
            sys.exit(int(error.exit_code))
        except KeyboardInterrupt as interrupt:
            if isinstance(interrupt, InterruptedRun):
                click.echo("\nInterrupted. The journal holds everything done so far.", err=True)
                click.echo(f"Next: {interrupt.next_step}", err=True)
            else:
                click.echo("\nInterrupted before any change was made.", err=True)
            sys.exit(int(ExitCode.INTERRUPTED))
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception as error:  # noqa: BLE001 - the last resort keeps tracebacks off screen
            if debug:
                _print_traceback()
                sys.exit(int(ExitCode.INTERNAL_ERROR))
            crash_log = _write_crash_log()
            _fail(
                f"remediate failed unexpectedly: {type(error).__name__}: {error}",
                f"read {crash_log}, and run again with --debug to see the traceback",
            )
            sys.exit(int(ExitCode.INTERNAL_ERROR))

    return wrapper  # type: ignore[return-value]


def _fail(message: str, next_step: str | None) -> None:
    from remediate.core.secrets import registry

    click.secho(f"Error: {registry.scrub(message)}", err=True, fg="red")
    if next_step:
        click.echo(f"Next: {registry.scrub(next_step)}", err=True)


def _print_traceback() -> None:
    from remediate.core.secrets import registry

    click.echo(registry.scrub(traceback.format_exc()), err=True)


def _write_crash_log() -> Path:
    from remediate.core.secrets import registry

    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open only to write it
        "w", prefix="remediate-crash-", suffix=".log", delete=False, encoding="utf-8"
    )
    with handle:
        handle.write(registry.scrub(traceback.format_exc()))
    return Path(handle.name)


def _debug_enabled() -> bool:
    context = click.get_current_context(silent=True)
    state = context.find_object(State) if context else None
    return bool(state and state.debug)


def _configure_logging(debug: bool, log_file: Path | None) -> None:
    from remediate.core.logs import configure_logging

    configure_logging(debug=debug, log_file=log_file)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remediate")
@click.option("--debug", is_flag=True, help="Show tracebacks and write debug logs to stderr.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the debug log (IDs and request IDs, never a secret) to this file.",
)
@click.pass_context
def cli(context: click.Context, debug: bool, log_file: Path | None) -> None:
    """Respond to a leaked AWS SES credential: identify, investigate, rotate, report.

    Start with `remediate rehearse` to drill the whole incident against a
    simulated AWS account; use `remediate run` on a real incident.
    """
    context.ensure_object(State).debug = debug
    if debug or log_file:
        try:
            _configure_logging(debug, log_file)
        except OSError as error:
            raise click.BadParameter(
                f"cannot write the log file: {error.strerror}", param_hint="--log-file"
            ) from None


def _answers_option(function: F) -> F:
    return click.option(
        "--answers",
        "answers_path",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="YAML file with answers by question id and approvals of destructive actions.",
    )(function)


def _yes_option(function: F) -> F:
    return click.option(
        "--yes", "-y", "assume_yes", is_flag=True, help="Accept every default answer."
    )(function)


def _incident_dir_option(function: F) -> F:
    return click.option(
        "--incident-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Directory for this incident's journal and reports (default: ./incidents/<id>).",
    )(function)


@cli.command()
@click.option(
    "--access-key-id", required=True, help="The leaked access key ID (the SMTP user name)."
)
@click.option("--playbook", help="A shipped playbook name or a path to a playbook YAML file.")
@_answers_option
@_yes_option
@click.option(
    "--consumers",
    "consumers_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML file listing the places that hold the key (see the README), besides those found.",
)
@click.option(
    "--dry-run", is_flag=True, help="Print the calls each step would make; change nothing."
)
@click.option("--profile", help="AWS profile to act with (the responder's, never the leaked key).")
@click.option("--region", help="Default AWS region for the session.")
@click.option("--regions", help="Comma-separated regions to investigate and search for consumers.")
@_incident_dir_option
@handle_errors
def run(
    access_key_id: str,
    playbook: str | None,
    answers_path: Path | None,
    assume_yes: bool,
    consumers_path: Path | None,
    dry_run: bool,
    profile: str | None,
    region: str | None,
    regions: str | None,
    incident_dir: Path | None,
) -> None:
    """Run the playbook on a real incident, with your own AWS credentials."""
    from remediate.aws.gateways import make_session
    from remediate.engine.runner import IncidentRequest, start_incident

    access_key_id = _validate_key_id(access_key_id)
    console = _console()
    # A dry run changes nothing, so it answers every question with its default.
    policy = _policy(answers_path, assume_yes or dry_run, approve_all=False)
    outcome = start_incident(
        IncidentRequest(
            access_key_id=access_key_id,
            session=make_session(profile, region),
            console=console,
            policy=policy,
            playbook=playbook,
            regions=_split_regions(regions),
            incident_dir=incident_dir,
            dry_run=dry_run,
            report_writer=_report_writer(),
            profile=profile,
            region=region,
            answers_path=answers_path,
            consumers_path=consumers_path,
        )
    )
    _finish(console, outcome)


@cli.command()
@click.argument("incident_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--answers",
    "answers_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Answers file to use instead of the one the incident started with.",
)
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Accept every default answer.")
@handle_errors
def resume(incident_dir: Path, answers_path: Path | None, assume_yes: bool) -> None:
    """Continue an incident from its first unfinished step."""
    from remediate.aws.gateways import make_session
    from remediate.engine.runner import resume_incident

    console = _console()
    outcome = resume_incident(
        incident_dir,
        session_factory=make_session,
        console=console,
        prompter=_prompter_if_terminal(),
        report_writer=_report_writer(),
        answers_path=answers_path,
        assume_yes=assume_yes,
    )
    _finish(console, outcome)


@cli.command()
@click.argument("incident_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--answers",
    "answers_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Answers file; a rollback without a prompt needs `rollback` under `approve:`.",
)
@click.option("--yes", "-y", "assume_yes", is_flag=True, help="Accept every default answer.")
@handle_errors
def rollback(incident_dir: Path, answers_path: Path | None, assume_yes: bool) -> None:
    """Reactivate the old key and put every consumer back, when the new key fails in production."""
    from remediate.aws.gateways import make_session
    from remediate.engine.runner import rollback_incident

    console = _console()
    outcome = rollback_incident(
        incident_dir,
        session_factory=make_session,
        console=console,
        prompter=_prompter_if_terminal(),
        report_writer=_report_writer(),
        answers_path=answers_path,
        assume_yes=assume_yes,
    )
    _finish(console, outcome)


@cli.command()
@click.option(
    "--scenario",
    default="default",
    show_default=True,
    # Kept here as text, because importing the scenarios would import moto and slow --help.
    help="The simulated incident to drill: default (a scanner-found SMTP key sending phishing "
    "from an unused region) or persistence (an attacker who left users, a group, a role trust "
    "and a sender behind).",
)
@_answers_option
@_yes_option
@_incident_dir_option
@handle_errors
def rehearse(
    scenario: str, answers_path: Path | None, assume_yes: bool, incident_dir: Path | None
) -> None:
    """Drill the whole incident against a simulated AWS account (moto), with no real AWS call."""
    from remediate.rehearsal.drill import run_rehearsal

    console = _console()
    policy = _policy(answers_path, assume_yes, approve_all=assume_yes)
    outcome = run_rehearsal(
        scenario,
        console=console,
        policy=policy,
        incident_dir=incident_dir,
        report_writer=_report_writer(),
        answers_path=answers_path,
    )
    _finish(console, outcome)


@cli.command()
@click.option("--access-key-id", required=True, help="The leaked access key ID.")
@click.option(
    "--cloudtrail-logs",
    "cloudtrail_logs",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help=(
        "A CloudTrail log file or directory (.json, .json.gz); repeatable. No AWS call is made "
        "unless --trail-bucket is given too."
    ),
)
@click.option(
    "--trail-bucket",
    "trail_bucket",
    metavar="s3://BUCKET/PREFIX",
    help=(
        "The S3 bucket and key prefix a CloudTrail trail delivers its logs to; the logs of "
        "the time window (default: the last 90 days) are read and merged with the other "
        "events. With --cloudtrail-logs, only S3 and STS GetAccessKeyInfo are called."
    ),
)
@click.option("--since", help="Start of the time window (ISO 8601, UTC if no offset).")
@click.option("--until", "until", help="End of the time window (ISO 8601, UTC if no offset).")
@click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--profile", help="AWS profile to read with.")
@click.option("--region", help="Default AWS region for the session.")
@click.option(
    "--regions", help="Comma-separated regions to look up (us-east-1 is always included)."
)
@handle_errors
def investigate(
    access_key_id: str,
    cloudtrail_logs: tuple[Path, ...],
    trail_bucket: str | None,
    since: str | None,
    until: str | None,
    output: str,
    profile: str | None,
    region: str | None,
    regions: str | None,
) -> None:
    """Investigate what a key did, read-only: from CloudTrail files, trail logs in S3, or AWS."""
    from remediate.engine.investigate import InvestigateRequest, run_investigation

    access_key_id = _validate_key_id(access_key_id)
    console = _console(stderr=output == "json")
    document = run_investigation(
        InvestigateRequest(
            access_key_id=access_key_id,
            log_paths=cloudtrail_logs,
            since=since,
            until=until,
            profile=profile,
            region=region,
            regions=_split_regions(regions),
            trail_bucket=trail_bucket,
        ),
        console=console,
        as_json=output == "json",
    )
    if document is not None:
        click.echo(document)


@cli.command()
@click.argument("incident_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--format",
    "formats",
    type=click.Choice(["md", "html", "json"]),
    multiple=True,
    help="Report format: md (Markdown), html (one self-contained page) or json (for SIEM "
    "and ticket systems); repeatable (default: md).",
)
@handle_errors
def report(incident_dir: Path, formats: tuple[str, ...]) -> None:
    """Write the incident report from the journal and the evidence bundle, at any point.

    Each format is written beside the journal as report.md, report.html or report.json.
    """
    from remediate.report import write_reports

    for path in write_reports(incident_dir, formats or ("md",)):
        click.echo(str(path))


@cli.command("log")
@click.argument("incident_dir", type=click.Path(file_okay=False, path_type=Path))
@handle_errors
def log_command(incident_dir: Path) -> None:
    """Print the incident's journal as a timeline: who did what and when, with request IDs."""
    from remediate.engine.audit import show_log

    show_log(incident_dir, _console())


@cli.command("smtp-password")
@click.option(
    "--region",
    help="The SES region whose SMTP endpoint the version 4 password is for. Required unless "
    "--legacy-v2 is given.",
)
@click.option(
    "--legacy-v2",
    "legacy_v2",
    is_flag=True,
    help="Print the deprecated version 2 password instead, which does not depend on the "
    "region. --region is not needed and is ignored if given.",
)
@handle_errors
def smtp_password(region: str | None, legacy_v2: bool) -> None:
    """Print the SES SMTP password for the secret access key read on stdin.

    The password is version 4, derived for --region: use it with that region's
    endpoint, email-smtp.REGION.amazonaws.com. With --legacy-v2 it is version 2,
    which AWS deprecated, so use that only for a consumer that cannot move to
    version 4 yet. The SMTP user name is the access key ID in both cases.
    """
    from remediate.aws.regions import SmtpEndpoint
    from remediate.aws.smtp import require_smtp_region, smtp_password_v2, smtp_password_v4

    derive: Callable[[str], str]
    if legacy_v2:
        if region is not None:
            click.echo(
                f"Note: --region {region} is ignored, because a version 2 password does not "
                "depend on the region.",
                err=True,
            )
        click.echo(
            "Warning: AWS deprecated version 2 SMTP passwords. Use this one only for a consumer "
            "that cannot move to a per-region version 4 password yet "
            "(remediate smtp-password --region REGION).",
            err=True,
        )
        derive = smtp_password_v2
    else:
        if region is None:
            raise UsageError(
                "Missing option --region: a version 4 SMTP password is derived for one region.",
                next_step="pass the region of the consumer's SMTP endpoint, for example: "
                "remediate smtp-password --region eu-west-1 < secret.txt "
                "(or --legacy-v2 for the deprecated version 2 password)",
            )
        if require_smtp_region(region) is SmtpEndpoint.UNKNOWN:
            click.echo(
                f"Warning: remediate's region table does not say whether {region} has an SMTP "
                f"endpoint (email-smtp.{region}.amazonaws.com); check before you rely on it.",
                err=True,
            )
        derive = functools.partial(smtp_password_v4, region=region)
    secret = _read_secret_from_stdin()
    if not SECRET_ALPHABET.fullmatch(secret) or ACCESS_KEY_ID.fullmatch(secret):
        raise UsageError(
            "The text read on stdin is not a secret access key, which holds only letters, "
            "digits, '+' and '/' (an access key ID or a CSV line is not one).",
            next_step="pipe in the secret access key alone, on one line",
        )
    if len(secret) != SECRET_LENGTH:
        click.echo(
            f"Warning: IAM's secret access keys have {SECRET_LENGTH} characters; this one has "
            f"{len(secret)}.",
            err=True,
        )
    click.echo(derive(secret))


def _read_secret_from_stdin() -> str:
    if sys.stdin.isatty():
        import getpass

        secret = getpass.getpass("Secret access key (input hidden): ")
    else:
        lines = [line.strip() for line in sys.stdin.read().splitlines() if line.strip()]
        if len(lines) > 1:
            raise UsageError(
                f"{len(lines)} lines were read on stdin; expected the secret access key alone.",
                next_step="pipe in one line that holds only the secret access key",
            )
        secret = lines[0] if lines else ""
    secret = secret.strip()
    if not secret:
        raise UsageError(
            "No secret access key was read on stdin.",
            next_step="pipe it in, for example: "
            "remediate smtp-password --region eu-west-1 < secret.txt",
        )
    return secret


def _validate_key_id(access_key_id: str) -> str:
    key = access_key_id.strip().upper()
    if not re.fullmatch(r"(AKIA|ASIA)[A-Z0-9]{16}", key):
        raise UsageError(
            f"{access_key_id!r} is not an AWS access key ID: expected AKIA or ASIA and 16 more "
            "upper-case letters or digits (the SMTP user name has this form too)."
        )
    return key


def _split_regions(regions: str | None) -> tuple[str, ...]:
    if not regions:
        return ()
    from remediate.aws.regions import closest_region, known_regions

    names = sorted({item.strip() for item in regions.split(",") if item.strip()})
    for name in names:
        if name not in known_regions():
            close = closest_region(name)
            raise UsageError(
                f"--regions names {name!r}, which is not an AWS region where SES or Secrets "
                "Manager runs" + (f"; did you mean {close}?" if close else "."),
            )
    return tuple(names)


def _console(*, stderr: bool = False) -> Console:
    from remediate.ui.console import TerminalConsole

    return TerminalConsole(sys.stderr if stderr else sys.stdout)


def _prompter_if_terminal() -> Prompter | None:
    context = click.get_current_context(silent=True)
    state = context.find_object(State) if context else None
    if state is not None and state.prompter is not None:
        return state.prompter
    if not sys.stdin.isatty():
        return None
    from remediate.ui.prompter import QuestionaryPrompter

    return QuestionaryPrompter.for_terminal()


def _policy(answers_path: Path | None, assume_yes: bool, *, approve_all: bool) -> AnswerPolicy:
    from remediate.engine.answers import AnswerPolicy, load_answers

    answers = load_answers(answers_path) if answers_path else None
    prompter = _prompter_if_terminal()
    if prompter is None and answers is None and not assume_yes:
        raise InputRequiredError(NO_TERMINAL_MESSAGE)
    return AnswerPolicy(
        answers=answers, assume_yes=assume_yes, approve_all=approve_all, prompter=prompter
    )


def _report_writer() -> Callable[[Path], list[Path]]:
    from remediate.report import write_reports

    return lambda path: write_reports(path, ("md", "html", "json"))


def _finish(console: Console, outcome: Any) -> None:
    console.heading("Summary")
    for step in outcome.steps:
        console.info(f"{step.title}: {step.status}. {step.summary}")
    if outcome.incident is not None:
        console.info(f"Incident directory: {outcome.incident.path}")


def main() -> None:
    cli(prog_name="remediate")
