"""The fault suite at scale: prints its figure line, never asserts.

Starts a Prefect server (127.0.0.1, embedded) and the simulator, then runs the scenarios of
``tests/blackbox/scenarios.py`` with real ``certops`` processes: ``--starts`` concurrent renewals
(CallManager and TVS, two per cluster), renewals killed with SIGKILL and rerun, bad chains offered
for approval. The witness is the simulator's event log. Prints one line per scenario and the total:

    fault-suite: overlaps=0 repeated_disruptive_steps=0 uploads_from_bad_input=0 secrets_found=0 runs_failed=0

    .venv/bin/python benchmarks/fault_suite.py [--starts 50] [--scenarios concurrent killed bad-chains]
        [--dir PATH] [--notes]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=50, help="concurrent certops renew processes")
    parser.add_argument(
        "--scenarios", nargs="*", default=["concurrent", "killed", "bad-chains"], help="which scenarios to run"
    )
    parser.add_argument("--dir", type=Path, default=None, help="keep every file here (default: a new temp dir)")
    parser.add_argument("--notes", action="store_true", help="print what each figure counted")
    args = parser.parse_args()

    from certops.renewal.server import PrefectServerProcess
    from tests.blackbox import scenarios
    from tests.blackbox.fault_suite import Figures

    work = args.dir or Path(tempfile.mkdtemp(prefix="certops-fault-suite-"))
    total = Figures()
    with PrefectServerProcess() as server:
        env = {"PREFECT_API_URL": server.api_url}
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            runs = {
                "concurrent": lambda: scenarios.concurrent_starts(
                    work / "concurrent", env, server.home, starts=args.starts, timeout=3600
                ),
                "killed": lambda: scenarios.killed_and_rerun(work / "killed", env, server.home),
                "bad-chains": lambda: scenarios.bad_chains(work / "bad-chains", env, server.home),
            }
            for name in args.scenarios:
                t0 = time.monotonic()
                figures = runs[name]()
                label = f"fault-suite[{name}{f' {args.starts}' if name == 'concurrent' else ''}]"
                print(f"{figures.line(label)}  ({time.monotonic() - t0:.0f} s)", flush=True)
                if args.notes:
                    for note in figures.notes:
                        print(f"    {note}")
                total = total.add(figures)
    print(total.line())
    print(f"files: {work}")


if __name__ == "__main__":
    main()
