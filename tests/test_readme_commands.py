"""Every command in the README's code blocks works as written (shortened with flags where it trains).

The test reads the README itself: a command that appears there without a rule below fails the test, so the
README cannot drift from what the code accepts. Paths under ``runs/`` go to a temporary folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHORT_TRAIN = "--steps 12 --eval-every 6 --batch-size 16 --d-model 16 --n-layers 1 --eval-size 16 --warmup 2"

# (pattern the command must match, flags appended to shorten it, or None to run it as written)
RULES: list[tuple[str, str | None]] = [
    (r"python -m core\.train --task lookup .*--out runs/lookup", SHORT_TRAIN),
    (r"python -m core\.train --resume runs/lookup", None),
    (r"python -m core\.train --csv my_table\.csv --out runs/table", SHORT_TRAIN),
    (r"python -m core\.sample --checkpoint pretrained/\S+ .*", None),
    (r"python -m core\.compare --checkpoint pretrained/\S+ .*", "--n-samples 32 --max-heldout 64"),
    (r"torchrun --nproc_per_node 2 -m core\.train .*", SHORT_TRAIN),
    (r"python pretrained/summarize\.py .*", None),
    (r"python bench/train_step\.py", "--repeats 2"),
    (r"python bench/sample\.py", "--n 16 --repeats 1"),
    (r"python bench/estimator_variance\.py .*", "--repeats 2 --forward 32"),
    (r"python bench/tabular\.py --preset reduced", "--preset tiny --tables adult --seeds 0 --configs linear"),
]
APP_COMMAND = r"python3 -m venv \.venv && \. \.venv/bin/activate && pip install -c requirements\.lock -e \. " \
              r"&& streamlit run app/main\.py"
TEST_COMMAND = "bash scripts/test.sh"  # the command that runs this very test


def readme_commands() -> list[str]:
    """Each line of the README's ```bash blocks, without its trailing comment."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, flags=re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _rule(command: str) -> str | None:
    matches = [extra for pattern, extra in RULES if re.fullmatch(pattern, command)]
    assert len(matches) == 1, f"README command without exactly one rule in this test: {command!r}"
    return matches[0]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("readme")
    rows = ["colour,size,price"] + [f"{c},{s},{(i * 37) % 101}" for i, c in enumerate(["red", "blue"] * 40)
                                    for s in "SM"]
    (folder / "my_table.csv").write_text("\n".join(rows) + "\n")
    return folder


def _run(command: str, workdir: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    command = command.replace("runs/", f"{workdir}/runs/").replace("my_table.csv", f"{workdir}/my_table.csv")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_every_readme_command_has_a_rule():
    commands = readme_commands()
    assert any(re.fullmatch(APP_COMMAND, c) for c in commands)
    assert TEST_COMMAND in commands
    for command in commands:
        if command != TEST_COMMAND and not re.fullmatch(APP_COMMAND, command):
            _rule(command)


@pytest.mark.parametrize("command", [c for c in readme_commands()
                                     if c != TEST_COMMAND and not re.fullmatch(APP_COMMAND, c)])
def test_readme_command_works(command, workdir):
    extra = _rule(command)
    proc = _run(f"{command} {extra}" if extra else command, workdir)
    assert proc.returncode == 0, f"{command}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr


def test_app_command_installs_from_the_lock_and_serves(workdir):
    """The app command's install resolves offline against the lock (it is what this test environment was
    built from), and ``streamlit run app/main.py`` serves a healthy app."""
    dry = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--no-deps",
                          "--no-build-isolation", "-c", "requirements.lock", "-e", "."], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-2000:]
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless",
                               "true", "--server.address", "127.0.0.1", "--server.port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert _healthy(f"http://127.0.0.1:{port}/_stcore/health", timeout=120), "the app never got healthy"
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.5)
    return False
