"""Time to the app's first frame: launch the installed `tinygpt-tui` in a real terminal (tmux) and
poll the screen until the runs screen is drawn.

    python benchmarks/startup.py [--repeats 5] [--json]

Needs tmux. Measures from the launch command to the first capture that shows the runs screen's
footer, so it includes Python start-up and every import the first frame needs (torch is not one).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def first_frame(exe: str, cwd: str, session: str) -> float:
    subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)
    t0 = time.perf_counter()
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-c", cwd, exe], check=True)
    try:
        while time.perf_counter() - t0 < 20:
            screen = subprocess.run(["tmux", "capture-pane", "-t", session, "-p"], capture_output=True,
                                    text=True).stdout
            if "New run" in screen and "Help" in screen:
                return time.perf_counter() - t0
            time.sleep(0.01)
        raise RuntimeError("the app drew no runs screen within 20 s")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], stderr=subprocess.DEVNULL)


def main() -> int:
    parser = argparse.ArgumentParser(description="Time to the first frame of tinygpt-tui.")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print("tmux is needed for this benchmark (apt-get install tmux).", file=sys.stderr)
        return 2
    exe = str(Path(sys.executable).with_name("tinygpt-tui"))
    if not Path(exe).exists():
        print(f"{exe} is not installed; run `make setup` first.", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tinygpt-startup-") as cwd:
        first_frame(exe, cwd, "tinygpt-startup")  # warm the file cache once
        times = [first_frame(exe, cwd, "tinygpt-startup") for _ in range(args.repeats)]
    result = {"median_s": statistics.median(times), "best_s": min(times), "runs": times}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"first frame of tinygpt-tui (empty models/): median {result['median_s']:.2f} s, "
              f"best {result['best_s']:.2f} s over {args.repeats} launches (aim: under 1 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
