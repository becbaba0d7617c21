"""End-to-end test in a real browser: the lab served by ``streamlit run``, driven by Playwright in Chromium.

The test starts its own server on a free port, opens every page through the sidebar (one browser session,
so the Compare page sees the run trained on the Train page), checks each page's title and that no
Streamlit exception box is shown, and saves a full-page screenshot per page in ``tests/screenshots/``.
It also measures and prints, without asserting on them, how long the first live chart takes after Start
and how long the Compare page takes to redraw after one step of its replay slider.

Then the classroom journeys: a run keeps training while its student reads the Lesson (the sidebar badge's
step grows); the Lesson is walked with Next /
Back through every step, and step 5's live run reaches group precedence 0.75; a Lesson link opened in a
fresh browser context shows the same numbers, without presenter mode; presenter mode at 1400x900 has metric
values, labels and chart text of 18 px or more (measured on the drawn text), and so do Compare's charts and
replay strip, with every chart title inside its chart; an Inspect link reopens the same shipped checkpoint
in a fresh context; two student contexts follow a
teacher's shared run on the Class page and see each step within about a second of each other (printed with
the load average).

Shipped checkpoints are optional: the server sees a copy of the complete ones (those with
``metrics.json``), so folders still being written in ``pretrained/`` cannot disturb it, and the Compare
page is pointed at this session's own run.

Needs the ``playwright`` package (dev extra) and Debian's ``chromium``; ``bash scripts/test.sh`` installs
both. Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright
except ImportError:  # the `page` fixture fails and says how to install it
    PlaywrightTimeout = sync_playwright = None

ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "tests" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
VIEWPORT = {"width": 1400, "height": 900}
HEALTH_TIMEOUT_S = 90
PAGE_TIMEOUT_MS = 90_000  # a page's first run imports torch and builds datasets; CPUs may be shared
TRAIN_TIMEOUT_MS = 180_000
TRAIN_STEPS = 6
SLIDER_MOVES = 3
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTION = '[data-testid="stException"]'
PAGES = {  # sidebar link -> page title (st.title)
    "Train": "Train and watch the order emerge",
    "Compare orders": "Compare decoding orders",
    "Inspect a checkpoint": "Inspect a checkpoint",
    "Lesson": "Lesson: how masked diffusion learns an order",
}
BROWSER: list = []  # the one Chromium of the module, for the tests that open fresh contexts
LESSON_TARGET_TIMEOUT_MS = 240_000
INSTALL = "Install the test dependencies with `bash scripts/test.sh` (as root it also installs chromium)"


def report(text: str) -> None:
    print(f"[browser] {text}", flush=True)


# --- the server -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def complete_checkpoints(target: Path) -> Path:
    """Copy the shipped checkpoints that are complete (``metrics.json`` written last) into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    for folder in sorted((ROOT / "pretrained").glob("*/metrics.json")):
        shutil.copytree(folder.parent, target / folder.parent.name)
    return target


def wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + HEALTH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"streamlit exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"streamlit did not answer {url}/_stcore/health within {HEALTH_TIMEOUT_S} s:\n"
                f"{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def server(request, tmp_path_factory) -> str:
    """The lab served on a free local port; stopped when the module's tests are done."""
    tmp = tmp_path_factory.mktemp("browser")
    port, log = free_port(), tmp / "streamlit.log"
    env = {**os.environ, "ORDERLAB_PRETRAINED_DIR": str(complete_checkpoints(tmp / "pretrained"))}
    command = [sys.executable, "-m", "streamlit", "run", "app/main.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port)]
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    request.addfinalizer(lambda: stop(proc))
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    wait_healthy(url, proc, log)
    report(f"server healthy after {time.perf_counter() - started:.1f} s")
    return url


# --- the browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(request):
    """One Chromium page (one Streamlit session) shared by the tests below, opened on the Train page."""
    if sync_playwright is None:
        pytest.fail(f"the Python package `playwright` is missing. {INSTALL}, or run "
                    "`bash scripts/test.sh` (it installs the dev extra from requirements.lock).", pytrace=False)
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail(f"no `chromium` on PATH. {INSTALL}, or run `apt-get install -y chromium` "
                    "(Playwright's own browser download is not used).", pytrace=False)
    server = request.getfixturevalue("server")
    playwright = sync_playwright().start()
    request.addfinalizer(playwright.stop)
    browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
    request.addfinalizer(browser.close)
    BROWSER.append(browser)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    request.addfinalizer(lambda: report(f"JavaScript errors: {errors or 'none'}"))
    page.goto(server)
    return page


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """Where the Train page's downloaded checkpoint is unzipped, for the Inspect page's upload."""
    return tmp_path_factory.mktemp("checkpoint")


def open_page(page, link: str) -> None:
    """Go to a page through the sidebar (same session) and wait until its script has finished."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=link, exact=True).click()
    page.get_by_role("heading", name=PAGES[link], level=1).wait_for()
    wait_idle(page)


def wait_idle(page) -> None:
    page.locator(IDLE).wait_for(state="attached")


def rerun(page, action) -> None:
    """Do ``action`` (a widget change) and wait for the rerun it causes to finish."""
    action()
    try:  # a quick rerun may be over before it is seen running: then this only costs the short wait
        page.locator('[data-testid="stApp"][data-test-script-state="running"]').wait_for(state="attached",
                                                                                          timeout=5000)
    except PlaywrightTimeout:
        pass
    wait_idle(page)


def assert_no_exception(page, where: str) -> None:
    boxes = page.locator(EXCEPTION)
    assert boxes.count() == 0, f"{where}: Streamlit exception shown:\n" + "\n---\n".join(boxes.all_inner_texts())


def screenshot(page, name: str) -> Path:
    """The whole page: the app scrolls inside its main area, so the viewport is made as tall as it."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(VIEWPORT["width"] - 5, VIEWPORT["height"] - 5)  # no tooltip left over the content
    height = page.evaluate("""() => Math.max(...['stMain', 'stSidebarContent'].map(
        id => document.querySelector(`[data-testid="${id}"]`)?.scrollHeight || 0))""")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], int(height))})
    try:
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
        path = SHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
    finally:
        page.set_viewport_size(VIEWPORT)
    report(f"screenshot {path.relative_to(ROOT)}")
    return path


# --- the pages --------------------------------------------------------------------------------------------


def test_train_page_trains_live(page, saved):
    page.get_by_role("heading", name=PAGES["Train"], level=1).wait_for()
    wait_idle(page)
    assert_no_exception(page, "Train page")
    page.locator(".st-key-preview_alpha .main-svg").first.wait_for()  # the step-0 picture before Start
    screenshot(page, "train_preview")

    steps = page.get_by_role("textbox", name="Steps")
    steps.fill(str(TRAIN_STEPS))
    rerun(page, lambda: steps.press("Enter"))
    started = time.perf_counter()
    page.get_by_role("button", name="Start", exact=True).click()
    page.locator(".st-key-live_nelbo .main-svg").first.wait_for(timeout=TRAIN_TIMEOUT_MS)
    first_chart = time.perf_counter() - started
    screenshot(page, "train_live")
    progress = page.get_by_test_id("stMain").get_by_test_id("stProgress")
    progress.get_by_text(re.compile(r"— done · step")).wait_for(timeout=TRAIN_TIMEOUT_MS)
    done = time.perf_counter() - started
    report(f"Start -> first live chart: {first_chart:.2f} s; Start -> {TRAIN_STEPS} steps done: {done:.1f} s")
    # The progress bar reads "done" before the rest of that rerun is drawn, and the timer's last tick then
    # redraws the page once more: wait for the metric (a timeout fails the test) rather than count at once.
    nelbo = page.get_by_test_id("stMetric").filter(has_text="Held-out NELBO")
    try:
        nelbo.first.wait_for(timeout=PAGE_TIMEOUT_MS)
    except PlaywrightTimeout:
        screenshot(page, "train_no_metric")
        pytest.fail("no Held-out NELBO metric after the run ended; the page shows:\n"
                    + page.get_by_test_id("stMain").inner_text()[:3000])
    wait_idle(page)

    assert f"step {TRAIN_STEPS} / {TRAIN_STEPS}" in progress.inner_text()
    assert nelbo.count() == 1
    assert page.locator('[class*="st-key-live_"] .main-svg').count() >= 5  # NELBO, ranks, alpha, ...
    assert_no_exception(page, "Train page after training")
    screenshot(page, "train")

    rerun(page, page.get_by_role("button", name="Save checkpoint").click)
    with page.expect_download() as download:
        page.get_by_role("button", name="Download checkpoint (.zip)").click()
    archive = saved / "checkpoint.zip"
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(saved)
    assert {"config.json", "model.safetensors", "metrics.json"} <= {p.name for p in saved.iterdir()}


def test_compare_page_replays_this_sessions_run(page):
    open_page(page, "Compare orders")
    assert_no_exception(page, "Compare page")
    model = page.locator(".st-key-compare_model")
    session_runs = re.compile(r"^this session: ")
    if not model.get_by_text(session_runs).count():  # shipped checkpoints are listed first
        model.click()
        rerun(page, page.get_by_role("option", name=session_runs).first.click)
    replay = page.locator(".st-key-compare_replay")
    replay.get_by_text("After 0 step(s)", exact=True).wait_for()
    page.get_by_role("heading", name="How good is each order?").wait_for()
    page.get_by_test_id("stDataFrame").first.wait_for()
    wait_idle(page)
    assert_no_exception(page, "Compare page")

    slider = page.get_by_role("slider", name="Decoding step")
    slider.focus()
    seconds = []
    for step in range(1, SLIDER_MOVES + 1):
        started = time.perf_counter()
        page.keyboard.press("ArrowRight")
        replay.get_by_text(f"After {step} step(s)", exact=True).wait_for()
        seconds.append(time.perf_counter() - started)
    report("replay slider ArrowRight -> redrawn figure: " + ", ".join(f"{s:.2f}" for s in seconds)
           + f" s (median {statistics.median(seconds):.2f} s)")
    wait_idle(page)
    assert page.get_by_text(re.compile(r"^learned revealed ")).count() == 1
    assert_no_exception(page, "Compare page after moving the slider")
    screenshot(page, "compare")


def test_inspect_page_opens_the_downloaded_checkpoint(page, saved):
    open_page(page, "Inspect a checkpoint")
    assert_no_exception(page, "Inspect page")
    archive = saved / "checkpoint.zip"
    assert archive.is_file(), "needs the checkpoint downloaded by the Train page test"
    rerun(page, page.locator(".st-key-inspect_source").get_by_text("Upload", exact=True).click)
    page.locator(".st-key-inspect_upload input[type=file]").set_input_files([archive])  # the zip as downloaded
    page.get_by_role("heading", name=re.compile(r"^(pairs|lookup) · 16 positions · schedule learned")).wait_for()
    page.locator(".st-key-inspect_alpha .main-svg").first.wait_for()
    wait_idle(page)
    assert_no_exception(page, "Inspect page with the uploaded checkpoint")
    screenshot(page, "inspect")


def shown_step(locator) -> int | None:
    """The step in a progress text such as ``… running · step 120 / 400 …``."""
    match = re.search(r"step ([\d,]+) /", locator.inner_text())
    return int(match.group(1).replace(",", "")) if match else None


def test_a_run_keeps_training_on_other_pages(page):
    open_page(page, "Train")
    steps = page.get_by_role("textbox", name="Steps")
    steps.fill("3000")
    rerun(page, lambda: steps.press("Enter"))
    rerun(page, page.get_by_role("button", name="Start", exact=True).click)
    page.get_by_test_id("stMain").get_by_test_id("stProgress").get_by_text(
        re.compile(r"running · step [1-9]")).wait_for(timeout=TRAIN_TIMEOUT_MS)
    open_page(page, "Lesson")
    badge = page.locator(".st-key-run_badge")
    badge.get_by_text(re.compile(r"running · step [1-9]")).wait_for()
    first = shown_step(badge)
    time.sleep(8)  # reading the Lesson: the run trains on
    later = shown_step(badge)
    report(f"on the Lesson for 8 s, the Train page's run went from step {first} to {later}; "
           f"load average {os.getloadavg()[0]:.1f}")
    assert later > first
    assert "steps/s" in badge.inner_text() and "left" in badge.inner_text()
    screenshot(page, "lesson_with_run_badge")
    open_page(page, "Train")
    assert shown_step(page.get_by_test_id("stMain").get_by_test_id("stProgress").first) >= later
    rerun(page, page.get_by_role("button", name="Stop", exact=True).click)


def test_lesson_walks_every_step_and_trains_live(page):
    open_page(page, "Lesson")
    page.get_by_role("heading", name=re.compile(r"^0 · One order")).wait_for()
    headings = []
    for _ in range(5):
        rerun(page, page.get_by_role("button", name="Next →").first.click)
        headings.append(page.get_by_role("heading", level=2).first.inner_text())
        assert_no_exception(page, f"Lesson {headings[-1]}")
    assert headings[-1].startswith("5 · Train live"), headings
    rerun(page, page.get_by_role("button", name="← Back").first.click)
    page.get_by_role("heading", name=re.compile(r"^4 · ELBO")).wait_for()
    rerun(page, page.get_by_role("button", name="Next →").first.click)
    started = time.perf_counter()
    page.get_by_role("button", name=re.compile(r"^Train live")).click()
    page.get_by_text(re.compile(r"Group precedence passed 0.75 at step")).wait_for(timeout=LESSON_TARGET_TIMEOUT_MS)
    report(f"Lesson step 5: Start -> precedence 0.75 shown after {time.perf_counter() - started:.1f} s "
           f"(load average {os.getloadavg()[0]:.1f})")
    page.locator(".st-key-lesson_live_prec .main-svg").first.wait_for()
    assert_no_exception(page, "Lesson step 5")
    screenshot(page, "lesson_step5_live")
    rerun(page, page.get_by_role("button", name="Next →").first.click)
    assert_no_exception(page, "Lesson step 6")


def fresh_page(url: str):
    """A new browser context (no cookies, a new Streamlit session) opened on ``url``."""
    context = BROWSER[0].new_context(viewport=VIEWPORT)
    other = context.new_page()
    other.set_default_timeout(PAGE_TIMEOUT_MS)
    other.goto(url)
    return context, other


def test_a_shared_lesson_link_opens_the_same_view_in_a_fresh_context(page):
    open_page(page, "Lesson")
    for _ in range(6):  # back to step 4
        if page.get_by_role("heading", level=2).first.inner_text().startswith("4 ·"):
            break
        rerun(page, page.get_by_role("button", name="← Back").first.click)
    page.get_by_role("heading", name=re.compile(r"^4 · ELBO")).wait_for()
    wait_idle(page)
    url = page.url
    assert "step=4" in url and "w=" in url and "presenter" not in url
    shown = page.get_by_test_id("stMetric").all_inner_texts()
    context, other = fresh_page(url)
    try:
        other.get_by_role("heading", name=re.compile(r"^4 · ELBO")).wait_for()
        other.get_by_test_id("stMetric").nth(len(shown) - 1).wait_for()
        wait_idle(other)
        assert other.get_by_test_id("stMetric").all_inner_texts() == shown  # the same numbers
        assert other.get_by_test_id("stSidebar").is_visible()  # not presenter mode
        screenshot(other, "lesson_shared_link")
    finally:
        context.close()


def test_presenter_mode_at_1400_by_900(page, server):
    context, other = fresh_page(f"{server}/lesson?step=4&presenter=1")
    try:
        other.get_by_role("heading", name=re.compile(r"^4 · ELBO")).wait_for()
        other.locator(".st-key-lesson_terms .main-svg").first.wait_for()
        wait_idle(other)
        # the font size of the innermost element holding the text (what is drawn)
        sizes = other.evaluate("""() => Object.fromEntries(['stMetricValue', 'stMetricLabel'].map(id => {
            const leaves = [...document.querySelectorAll(`[data-testid="${id}"], [data-testid="${id}"] *`)]
                .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()));
            return [id, Math.min(...leaves.map(e => parseFloat(getComputedStyle(e).fontSize)))];
        }))""")
        SHOTS.mkdir(parents=True, exist_ok=True)
        other.screenshot(path=str(SHOTS / "lesson_presenter_1400x900.png"))  # what the projector shows
        chart, text = other.evaluate("""() => [...document.querySelectorAll('.main-svg text')]
            .filter(t => t.textContent.trim()).map(t => [parseFloat(getComputedStyle(t).fontSize), t.textContent])
            .sort((a, b) => a[0] - b[0])[0]""")
        report(f"presenter mode at 1400 px: metric value {sizes['stMetricValue']} px, label "
               f"{sizes['stMetricLabel']} px, smallest chart text {chart} px ({text!r})")
        assert sizes["stMetricValue"] > sizes["stMetricLabel"] >= 18 and chart >= 18
        assert not other.get_by_test_id("stSidebar").is_visible()
        screenshot(other, "lesson_presenter_full")
    finally:
        context.close()


SMALLEST_CHART_TEXT = """() => [...document.querySelectorAll('.main-svg text')]
    .filter(t => t.textContent.trim()).map(t => [parseFloat(getComputedStyle(t).fontSize), t.textContent])
    .sort((a, b) => a[0] - b[0])[0]"""
# every chart title inside its own drawing (a clipped title ends past the chart's edge)
TITLES_INSIDE = """() => [...document.querySelectorAll('.main-svg .gtitle')].filter(t => t.textContent.trim())
    .map(t => { const r = t.getBoundingClientRect(), s = t.closest('.js-plotly-plot').getBoundingClientRect();
                return [t.textContent, r.top >= s.top - 1 && r.left >= s.left - 1 && r.right <= s.right + 1]; })"""


def shipped(name: str) -> bool:
    """Whether the server sees the shipped checkpoint ``name`` (only complete ones are copied)."""
    return (ROOT / "pretrained" / name / "metrics.json").is_file()


def test_presenter_mode_on_compare_at_1400_by_900(page, server):
    """Issue 13: Compare drew its charts past the presenter styling, so their text stayed small."""
    if not shipped("majority-learned"):
        pytest.skip("needs the shipped majority-learned checkpoint (Compare's first model)")
    context, other = fresh_page(f"{server}/compare?presenter=1")
    try:
        other.get_by_role("heading", name=PAGES["Compare orders"], level=1).wait_for()
        other.locator(".st-key-compare_points .main-svg").first.wait_for()
        other.locator(".st-key-compare_replay .orl-strip").wait_for()
        wait_idle(other)
        SHOTS.mkdir(parents=True, exist_ok=True)
        other.screenshot(path=str(SHOTS / "compare_presenter_1400x900.png"))  # what the projector shows
        chart, text = other.evaluate(SMALLEST_CHART_TEXT)
        strip = other.evaluate("""() => Math.min(...[...document.querySelectorAll('.orl-strip *')]
            .filter(e => [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
            .map(e => parseFloat(getComputedStyle(e).fontSize)))""")
        titles = other.evaluate(TITLES_INSIDE)
        report(f"Compare in presenter mode at 1400 px: smallest chart text {chart} px ({text!r}), smallest "
               f"replay-strip text {strip} px, chart titles {titles}")
        assert chart >= 18 and strip >= 18
        assert titles and all(inside for _, inside in titles)
        assert not other.get_by_test_id("stSidebar").is_visible()
        assert not other.get_by_role("button", name="New seed").is_visible()  # no clipped "New …" button
        screenshot(other, "compare_presenter_full")
    finally:
        context.close()


def test_a_shared_inspect_link_opens_the_same_checkpoint_in_a_fresh_context(page):
    if not shipped("majority-learned"):
        pytest.skip("needs the shipped majority-learned checkpoint")
    open_page(page, "Inspect a checkpoint")
    rerun(page, page.locator(".st-key-inspect_source").get_by_text("Shipped", exact=True).click)
    page.locator(".st-key-inspect_shipped").click()
    rerun(page, page.get_by_role("option", name="majority-learned", exact=True).click)
    heading = re.compile(r"^majority · \d+ positions · schedule learned")
    page.get_by_role("heading", name=heading).wait_for()
    wait_idle(page)
    url = page.url
    assert "/inspect?" in url and "checkpoint=majority-learned" in url
    shown = page.get_by_test_id("stMetric").all_inner_texts()
    context, other = fresh_page(url)
    try:
        other.get_by_role("heading", name=heading).wait_for()
        other.locator(".st-key-inspect_alpha .main-svg").first.wait_for()
        wait_idle(other)
        assert other.get_by_test_id("stMetric").all_inner_texts() == shown  # the same numbers
    finally:
        context.close()


def test_class_mode_two_students_follow_the_teachers_run(page):
    open_page(page, "Train")
    steps = page.get_by_role("textbox", name="Steps")
    steps.fill("2000")
    rerun(page, lambda: steps.press("Enter"))
    rerun(page, page.get_by_role("button", name="Start", exact=True).click)
    rerun(page, page.get_by_role("button", name="Share with the class").click)
    link = page.locator(".st-key-train_share_link code").inner_text().strip()
    assert "/class?code=" in link
    students = [fresh_page(link) for _ in range(2)]
    try:
        for _, other in students:
            other.get_by_test_id("stProgress").first.get_by_text(re.compile(r"step [1-9]")).wait_for(
                timeout=TRAIN_TIMEOUT_MS)
        samples = []  # (seconds, step seen by student 1, step seen by student 2)
        started = time.perf_counter()
        while time.perf_counter() - started < 12:
            seen = [shown_step(other.get_by_test_id("stProgress").first) for _, other in students]
            samples.append((time.perf_counter() - started, *seen))
            time.sleep(0.25)
        lags = class_lags(samples)
        report(f"class mode: students' steps differ by at most {max(abs(a - b) for _, a, b in samples)}; "
               f"a step seen by one is seen by the other within {max(lags or [0]):.2f} s (median "
               f"{statistics.median(lags or [0]):.2f} s); load average {os.getloadavg()[0]:.1f}")
        # the lag is reported, not asserted (a wall-clock bound fails on a busy machine); both followers
        # move with the run, and a step shown by one is reached by the other
        assert all(len({row[f] for row in samples}) >= 2 for f in (1, 2)) and lags
        assert not students[0][1].get_by_role("button", name="Pause").count()  # read-only
        screenshot(students[0][1], "class_student")
    finally:
        for context, _ in students:
            context.close()
        rerun(page, page.get_by_role("button", name="Stop", exact=True).click)


def class_lags(samples) -> list[float]:
    """For each step value first seen by one student, how much later the other saw it (or more)."""
    lags = []
    for first, second in ((1, 2), (2, 1)):
        for i, row in enumerate(samples):
            if i and row[first] != samples[i - 1][first]:
                later = next((s[0] for s in samples[i:] if s[second] >= row[first]), None)
                if later is not None:
                    lags.append(later - row[0])
    return lags
