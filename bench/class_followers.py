"""What a class costs the server: ``--followers`` sessions on the Class page following one shared replay.

Each follower is a Streamlit session driven by AppTest in this process; one ``run()`` of it stands for one
tick of its page (a browser's ``run_every`` timer reruns only the page's fragment once a second; a full
rerun also redraws the rest of the page, so the times are an upper bound). Rounds alternate between the lab as
it is (every figure built once per snapshot and shared by the sessions, ``app.charts.plot_shared``) and a
baseline in the same process where the shared figures are dropped before every tick, so each session
builds its own, as it did before they were shared. Prints the median wall and CPU time of one follower
tick in each mode, their ratio, and how many followers one core could serve at one tick per second.

Then the moment a teacher says "open Compare": ``--followers`` new sessions open the Compare page on its
default shipped model, alternating between the lab as it is (decodings and scores of a shipped model are
computed once for every session, ``app.comparison``) and a baseline that drops them before each open.

    python bench/class_followers.py [--followers 30] [--rounds 4] [--replay majority-learned]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app import charts, class_mode, common, comparison  # noqa: E402
from core.cli import fail  # noqa: E402

MAIN = str(ROOT / "app" / "main.py")
COMPARE = str(ROOT / "app" / "content" / "compare.py")


def follower(code: str) -> AppTest:
    at = AppTest.from_file(MAIN, default_timeout=120).run()
    at.switch_page("content/classroom.py")
    at.query_params["code"] = code
    at.run()
    if at.exception:
        raise RuntimeError(f"the Class page failed: {at.exception[0].message}")
    return at


def tick(at: AppTest, shared: bool) -> tuple[float, float]:
    """One tick of one follower: (wall seconds, CPU seconds of this process)."""
    if not shared:
        charts._shared.clear()
    wall, cpu = time.perf_counter(), time.process_time()
    at.run()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(followers: list[AppTest], rounds: int) -> dict[bool, list[tuple[float, float]]]:
    times = {True: [], False: []}
    for r in range(rounds):
        shared = r % 2 == 0
        for at in followers:
            times[shared].append(tick(at, shared))
    return times


def open_compare(shared: bool) -> tuple[float, float]:
    """One student opening Compare: (wall seconds, CPU seconds of this process)."""
    if not shared:
        comparison.clear_shared()
    wall, cpu = time.perf_counter(), time.process_time()
    at = AppTest.from_file(COMPARE, default_timeout=120).run()
    if at.exception:
        raise RuntimeError(f"the Compare page failed: {at.exception[0].message}")
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_compare(students: int) -> dict[bool, list[tuple[float, float]]]:
    open_compare(True)  # imports and the checkpoint load, once
    times = {True: [], False: []}
    for i in range(2 * students):
        shared = i % 2 == 0
        times[shared].append(open_compare(shared))
    return times


def report(times: dict, what: str, own: str, both: str) -> None:
    median = {mode: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
              for mode, t in times.items()}
    for mode, label in ((False, own), (True, both)):
        wall, cpu = median[mode]
        print(f"{label:<34} {what}: wall {wall * 1000:6.1f} ms, CPU {cpu * 1000:6.1f} ms")
    print(f"ratio shared / own (CPU): {median[True][1] / median[False][1]:.2f}; "
          f"load average {os.getloadavg()[0]:.1f}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--followers", type=int, default=30, help="sessions following the shared replay")
    p.add_argument("--rounds", type=int, default=4, help="ticks of every follower, alternating the two modes")
    p.add_argument("--replay", default="majority-learned", help="the shipped run (pretrained/) to share")
    p.add_argument("--speed", type=float, default=1.0, help="snapshots per second of the shared replay")
    return p


def check_args(args) -> str | None:
    if args.followers < 1:
        return f"--followers must be >= 1, got {args.followers}"
    if args.rounds < 2:
        return f"--rounds must be >= 2 (one round of each mode), got {args.rounds}"
    if not 0 < args.speed <= 100:
        return f"--speed must be in (0, 100], got {args.speed:g}"
    shipped = common.list_pretrained()
    if args.replay not in shipped:
        return f"no shipped run {args.replay!r}; expected one of {', '.join(shipped) or '(none shipped)'}"
    return None


def main(argv=None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    problem = check_args(args)
    if problem:
        fail(parser, problem)
    code = class_mode.REGISTRY.share_replay(args.replay, args.speed, args.replay)
    started = time.perf_counter()
    followers = [follower(code) for _ in range(args.followers)]
    print(f"{args.followers} followers of {args.replay} opened in {time.perf_counter() - started:.1f} s; "
          f"{os.cpu_count()} CPU core(s), load average {os.getloadavg()[0]:.1f}")
    times = measure(followers, args.rounds)
    report(times, "one follower tick", "each session builds its figures", "figures shared across sessions")
    cpu = statistics.median(c for _, c in times[True])
    print(f"-> {1 / cpu:.1f} followers per core at one tick per second (each building its own: "
          f"{1 / statistics.median(c for _, c in times[False]):.1f})")
    report(measure_compare(args.followers), "one student opening Compare", "each session decodes and scores",
           "shipped results shared")


if __name__ == "__main__":
    main()
