"""Print the markdown table of shipped (or any) runs from their metrics.json files.

``python pretrained/summarize.py [DIR ...]`` (default: every folder under pretrained/); a folder without
``metrics.json`` (such as ``pretrained/seeds/`` itself when a glob matches it) is skipped with a note.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(dirs: list[Path]) -> list[str]:
    out = ["| run | task | schedule | seed | steps | held-out NELBO ± s.e. (nats) | group precedence "
           "| Kendall tau | order entropy |", "|---|---|---|---|---|---|---|---|---|"]
    for d in dirs:
        m = json.loads((d / "metrics.json").read_text())
        fmt = lambda k: "—" if m.get(k) is None else f"{m[k]:.3f}"  # noqa: E731
        out.append(f"| {d.name} | {m['task']} | {m['schedule']} | {m['seed']} | {m['steps']} | "
                   f"{m['heldout_nelbo']:.3f} ± {m['heldout_se']:.3f} | {fmt('group_precedence')} | "
                   f"{fmt('kendall_tau')} | {m['order_entropy']:.2f} |")
    return out


def main() -> None:
    args = [Path(a) for a in sys.argv[1:]]
    root = Path(__file__).parent
    dirs = args or sorted(root.iterdir())
    for d in dirs:
        if args and not (d / "metrics.json").is_file():  # e.g. pretrained/seeds/ itself, matched by a glob
            print(f"# skipped {d}: no metrics.json", file=sys.stderr)
    print("\n".join(rows([d for d in dirs if (d / "metrics.json").is_file()])))


if __name__ == "__main__":
    main()
