"""A moto server on 127.0.0.1 seeded with one scenario, for end-to-end tests and drills.

Usage: python -m remediate.rehearsal.server --port N --facts FILE [--scenario NAME]

The server installs the fills, starts moto's ThreadedMotoServer in this
process, seeds the scenario through it over HTTP (and the fills' stores
directly, since they live in this process), then writes the world facts as
JSON to FILE. The file appears only once the world is ready and is removed on
exit. The server stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from moto.server import ThreadedMotoServer

from remediate.core.errors import ExitCode, RemediateError
from remediate.core.files import write_private_file
from remediate.core.timeutil import utc_now
from remediate.rehearsal.moto_fills import install_fills
from remediate.rehearsal.scenarios import DEFAULT_SCENARIO, get_scenario
from remediate.rehearsal.seeding import (
    WorldFacts,
    rehearsal_environment,
    seed_scenario,
    world_facts,
)

LOOPBACK = "127.0.0.1"
START_TIMEOUT_SECONDS = 10.0

log = logging.getLogger("remediate.rehearsal.server")


class ServerStartError(RemediateError):
    """The moto server could not listen on the requested port."""

    exit_code = ExitCode.INTERNAL_ERROR


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m remediate.rehearsal.server",
        description="Serve a seeded rehearsal world from a moto server on 127.0.0.1.",
    )
    parser.add_argument(
        "--port", type=int, required=True, help="TCP port on 127.0.0.1; 0 picks a free one"
    )
    parser.add_argument("--scenario", default=DEFAULT_SCENARIO, help="scenario to seed")
    parser.add_argument(
        "--facts",
        type=Path,
        required=True,
        help="file that receives the world facts as JSON once the world is ready",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request that moto serves")
    return parser.parse_args(argv)


def start_moto_server(port: int) -> tuple[ThreadedMotoServer, int]:
    """Start moto on 127.0.0.1 and return the server and the port it listens on."""
    if port:
        _check_port_free(port)
    server = ThreadedMotoServer(ip_address=LOOPBACK, port=port, verbose=False)
    # ThreadedMotoServer.start waits without a timeout for a thread that dies
    # when binding fails, so it runs in a helper thread that can be given up on.
    starter = threading.Thread(target=server.start, name="moto-server-start", daemon=True)
    starter.start()
    starter.join(START_TIMEOUT_SECONDS)
    if starter.is_alive():
        raise ServerStartError(
            f"The moto server did not start on {LOOPBACK}:{port} within "
            f"{START_TIMEOUT_SECONDS:.0f} seconds; see the error above, or pick another --port."
        )
    return server, server.get_host_and_port()[1]


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # The same option werkzeug sets, so that a port in TIME_WAIT counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as error:
            raise ServerStartError(
                f"Cannot listen on {LOOPBACK}:{port}: {error.strerror}. Pick another --port, "
                "or --port 0 for a free one."
            ) from error


def write_facts(path: Path, facts: WorldFacts, *, port: int) -> None:
    """Write the facts file atomically, so a reader never sees it half written."""
    content = world_facts(facts) | {
        "endpoint_url": f"http://{LOOPBACK}:{port}",
        "port": port,
        "pid": os.getpid(),
    }
    write_private_file(path, json.dumps(content, indent=2) + "\n")


def serve(port: int, scenario_name: str, facts_path: Path, stop: threading.Event) -> None:
    """Serve the seeded world until `stop` is set. The facts file exists only while it is ready."""
    scenario = get_scenario(scenario_name)
    install_fills()
    facts_path.unlink(missing_ok=True)

    server, port = start_moto_server(port)
    try:
        endpoint_url = f"http://{LOOPBACK}:{port}"
        with rehearsal_environment():
            facts = seed_scenario(scenario, scenario.build(utc_now()), endpoint_url=endpoint_url)
        if stop.is_set():
            return
        write_facts(facts_path, facts, port=port)
        log.info(
            "Rehearsal world %r is ready at %s; facts are in %s",
            scenario.name,
            endpoint_url,
            facts_path,
        )
        # The wait is bounded, so the loop checks `stop` at least twice a second.
        while not stop.wait(timeout=0.5):
            pass
    finally:
        facts_path.unlink(missing_ok=True)
        server.stop()
        log.info("Rehearsal server on port %d stopped", port)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if not arguments.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        log.info("Received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    try:
        serve(arguments.port, arguments.scenario, arguments.facts, stop)
    except RemediateError as error:
        log.error("%s", error.message)
        return int(error.exit_code)
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
