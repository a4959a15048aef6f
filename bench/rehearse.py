"""Time `remediate rehearse --yes`, the main job, from process start to exit.

Usage: python bench/rehearse.py [RUNS]
Each run starts the installed command in an empty temporary directory.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    command = str(Path(sys.executable).parent / "remediate")
    environment = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    times = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as directory:
            start = time.perf_counter()
            subprocess.run(
                [command, "rehearse", "--yes"],
                cwd=directory,
                env=environment,
                capture_output=True,
                check=True,
            )
            times.append(time.perf_counter() - start)
    print(
        f"remediate rehearse --yes: median {statistics.median(times):.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s over {runs} runs"
    )


if __name__ == "__main__":
    main()
