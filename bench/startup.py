"""Time `remediate --help` and count the modules it imports: it must stay free of boto3 and moto.

Usage: python bench/startup.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

PROBE = (
    "import sys\n"
    "from remediate.cli import main\n"
    "sys.argv = ['remediate', '--help']\n"
    "try:\n    main()\nexcept SystemExit:\n    pass\n"
    "print(len(sys.modules), file=sys.stderr)\n"
)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    times = []
    modules = 0
    for _ in range(runs):
        start = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        )
        times.append(time.perf_counter() - start)
        modules = int(completed.stderr.strip().splitlines()[-1])
    print(f"remediate --help: median {statistics.median(times) * 1000:.0f} ms over {runs} runs")
    print(f"modules loaded: {modules}")


if __name__ == "__main__":
    main()
