"""The hostile-input suite (tests/hostile_cases.py): every case through the pages' entry points and next
steps, in two subprocesses (one per core) under a 3 GB address-space limit and a time limit per case.
Each must end in a working result or one clear message: never a traceback, a hang, or a kill."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import hostile_cases  # tests/ is on sys.path: pytest puts a test file's folder there

ROOT = Path(__file__).resolve().parents[1]

GROUPS = 2
TIMEOUT_S = 300


@pytest.fixture(scope="module")
def results() -> dict[str, dict]:
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "hostile_cases.py"), str(g), str(GROUPS)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
             for g in range(GROUPS)]
    out = {}
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
        assert proc.returncode == 0, f"a runner died (killed for memory or time?): {stderr[-3000:]}"
        for line in stdout.splitlines():
            result = json.loads(line)
            out[result["name"]] = result
    return out


def test_every_case_ran_and_none_crashed_hung_or_leaked_a_path(results):
    cases = hostile_cases.all_cases()
    assert len(cases) >= 60 and len({c.name for c in cases}) == len(cases)
    assert set(results) == {c.name for c in cases}  # none was lost to a kill
    bad = {name: (hostile_cases.problems(r), r["text"][-800:]) for name, r in results.items()
           if hostile_cases.problems(r)}
    assert not bad, json.dumps(bad, indent=1)
    assert max(r["peak_mb"] for r in results.values()) < hostile_cases.ADDRESS_SPACE >> 20


def test_findings_reproduced_by_the_suite_end_as_the_issue_asks(results):
    # 1, 2: the 1024- and 4096-position checkpoints open within the per-case limit (wall time itself is not
    # asserted: it depends on what else the machine runs); what the page will not compute it says
    for name in ("good L=1024 d_model=8 (finding 1)", "good L=4096 d_model=8 (findings 1, 2)"):
        assert results[name]["outcome"] == "ok"
        assert "not computed" in results[name]["text"]
    # 3: the held-out data are not rebuilt from unbounded params
    for name in ("pairs n=2048, 10**6 rows in meta (finding 3)", "pairs n=60, 10**6 rows in meta (finding 3)"):
        assert results[name]["outcome"] == "ok"
        assert "at most" in results[name]["text"] or "2..512" in results[name]["text"]
    # 5: CSV edge cases train, download and re-upload, or get a message
    assert results["10 MB cell (finding 5)"]["outcome"] == "ok"
    assert results["UTF-8 BOM (finding 5)"]["outcome"] == "ok"
    assert "repeats the column name" in results["duplicate headers (finding 5)"]["text"]
    assert results["integers that collapse to one float64 (finding 5)"]["outcome"] != "crash"
    assert results["config with a UTF-8 BOM (finding 5)"]["outcome"] == "ok"
    # 4: Hub ids: one line, no path, offline said so
    assert "offline" in results["hub id 'owner/name'"]["text"]
    assert "not a Hugging Face Hub repo id" in results[f"hub id {'a' * 300!r:.40}"]["text"]
