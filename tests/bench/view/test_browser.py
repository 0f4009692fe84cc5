"""The live page in a real browser (headless Chromium driven by Selenium).

Needs the Debian packages ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them);
skipped, with the reason, only when they are missing on this machine.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
HAVE_BROWSER = os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)
#: .ci/run sets it: in CI a missing browser is a failure, not a skip.
REQUIRED = os.environ.get("VENTBENCH_REQUIRE_BROWSER") == "1"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not HAVE_BROWSER and not REQUIRED,
                       reason="chromium / chromedriver not installed (apt-get install chromium "
                              "chromium-driver; .ci/run does it)"),
]


def test_the_browser_is_there_when_required():
    assert HAVE_BROWSER, f"{CHROMIUM} and {CHROMEDRIVER} are needed (VENTBENCH_REQUIRE_BROWSER=1)"


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1100", "--force-device-scale-factor=1"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


class Command:
    """A ventbench command in the background; its stderr read line by line."""

    def __init__(self, args: list[str], stdin=subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "ventbench", *args], text=True,
                                     stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.err: queue.Queue[str] = queue.Queue()
        self.err_lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.url = self.wait_for(r"live view: (http://\S+)").group(1)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.err.put(line)

    def wait_for(self, pattern: str, timeout_s: float = 60.0) -> re.Match:
        deadline = time.monotonic() + timeout_s
        for line in self.err_lines:
            if m := re.search(pattern, line):
                return m
        while time.monotonic() < deadline:
            try:
                line = self.err.get(timeout=0.2)
            except queue.Empty:
                continue
            self.err_lines.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"no {pattern!r} in stderr: {''.join(self.err_lines)[-2000:]}")

    def interrupt(self) -> tuple[int, str]:
        self.proc.send_signal(signal.SIGINT)
        if self.proc.stdin is not None and self.proc.stdin.closed:
            self.proc.stdin = None
        out, _ = self.proc.communicate(timeout=30)
        return self.proc.returncode, out


def _retry(action, timeout_s: float = 5.0):
    """``action()`` again while the page replaces the element under it (a redraw between
    finding an element and using it raises StaleElementReferenceException)."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return action()
        except StaleElementReferenceException:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _until(driver, script: str, timeout_s: float = 30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = driver.execute_script(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


#: Colour-matched columns of the flow plot's canvas, in device pixels (breath-start marks
#: in green, flagged breaths in magenta), and the plot's scale.
MARK_COLUMNS = """
const u = window.vbView.plots[0], c = u.ctx.canvas, b = u.bbox;
const img = u.ctx.getImageData(b.left, b.top, b.width, b.height).data;
const cols = new Set();
for (let y = 0; y < b.height; y += 1) for (let x = 0; x < b.width; x++) {
  const i = 4 * (y * b.width + x);
  const [r, g, bl] = [img[i], img[i + 1], img[i + 2]];
  if ((r === 0 && g === 160 && bl === 60) || (r === 230 && g === 0 && bl === 200)) cols.add(x);
}
return {cols: [...cols].sort((p, q) => p - q), left: b.left, width: b.width,
        min: u.scales.x.min, max: u.scales.x.max, frames: window.vbView.state.frames};
"""


def test_demo_page_shows_the_waveform_live_and_marks_breaths_where_the_analysis_put_them(
        tmp_path, browser):
    from selenium.webdriver.support.ui import Select

    cmd = Command(["demo", "--view", "--speed", "4", "--point", "vc-01", "--no-alarms", "--settle", "1",
                   "--measure", "3", "--no-report", "--no-history", "--out", str(tmp_path)])
    browser.get(cmd.url)
    _until(browser, "return window.vbView.state.frames > 3")
    _retry(lambda: Select(browser.find_element("id", "span")).select_by_value("60"))
    t1 = _until(browser, "const f = window.vbView.state.frame;"
                         "return f && f.span_s == 60 && f.t_hi_s > 1 && f.t_hi_s")
    time.sleep(1.0)
    t2 = browser.execute_script("return window.vbView.state.frame.t_hi_s")
    assert t2 > t1 + 2.0, "the waveform does not advance (speed 4: ~4 s of data per s)"
    samples = int(_retry(lambda: browser.find_element("id", "link-samples").text))
    assert samples > 0 and _retry(lambda: browser.find_element("id", "status").text) == "running"
    cmd.wait_for("session ended; the live view stays")
    _until(browser, "return window.vbView.state.stateParts.status === 'ended'")
    seen = _until(browser, "const s = window.vbView.state.stateParts;"
                           "return s.rows.length >= 5 && s.verdicts.length == 1 && s.rows")
    assert [r["n"] for r in seen] == [0, 1, 2, 3, 4]  # breaths numbered from 0, as everywhere
    time.sleep(0.5)
    drawn = browser.execute_script(MARK_COLUMNS)
    # pause, a 10 s window, scroll back to the start of the session: its first 10 s
    _retry(lambda: browser.find_element("id", "pause").click())
    _retry(lambda: Select(browser.find_element("id", "span")).select_by_value("10"))
    browser.execute_script("const s = document.getElementById('scroll'); s.value = 0;"
                           "s.dispatchEvent(new Event('input'));")
    back = _until(browser, "const f = window.vbView.state.frame;"
                           "return f.span_s == 10 && f.t_lo_s < 0.5 * f.span_s && f")
    assert back["t_hi_s"] == pytest.approx(back["t_first_s"] + 10.0) and back["marks"]
    time.sleep(1.5)  # paused: the pushed frames are not drawn
    assert browser.execute_script("return window.vbView.state.frame.t_hi_s") == back["t_hi_s"]
    code, out = cmd.interrupt()
    assert code in (0, 1, 2) and "Traceback" not in "".join(cmd.err_lines)

    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    results = json.loads((session / "results.json").read_text())
    trace = (session / "points" / "vc-01" / "trace.csv").read_text().splitlines()
    t0 = float(next(x for x in trace if x[:1].isdigit() or x[:1] == "-").split(",")[0])
    starts = [b["t_start_s"] - t0 for b in results["points"][0]["breaths"]]
    scale = drawn["width"] / (drawn["max"] - drawn["min"])
    expected = [round((t - drawn["min"]) * scale) for t in starts if drawn["min"] <= t < drawn["max"]]
    assert len(expected) >= 4, (starts, drawn)
    # every analysed breath but the last (which the live analysis closes only at the next
    # start) has a mark within one pixel column, and every mark is an analysed breath
    for x in expected[:-1]:
        assert any(abs(x - c) <= 1 for c in drawn["cols"]), (x, drawn["cols"])
    for c in drawn["cols"]:
        assert any(abs(x - c) <= 1 for x in expected), (c, expected)


def test_a_prompt_answered_on_the_page_advances_the_run_and_a_closed_page_does_not_stop_it(
        tmp_path, browser):
    cmd = Command(["run", "iso80601-2-12-vc", "--point", "vc-01", "--point", "vc-02", "--port", "sim://rig?speed=8", "--driver", "rig",
                   "--view", "--settle", "1", "--measure", "2", "--no-report",
                   "--no-history", "--out", str(tmp_path)], stdin=subprocess.PIPE)
    browser.get(cmd.url)
    _until(browser, "return !document.getElementById('prompt').hidden")
    assert "vc-01" in _retry(lambda: browser.find_element("id", "prompt-text").text)
    _retry(lambda: browser.find_element("id", "note").send_keys("lung checked on the page"))
    _retry(lambda: browser.find_element("id", "btn-note").click())
    _until(browser, "return document.getElementById('prompt-notes').textContent.includes('lung')")
    _retry(lambda: browser.find_element("id", "btn-go").click())  # the terminal never said a word
    _until(browser, "return window.vbView.state.stateParts.protocol.progress")
    browser.get("about:blank")  # the page goes away mid-point: the session must go on
    # the next prompt, answered on the terminal this time
    cmd.proc.stdin.write("s\n")
    cmd.proc.stdin.flush()
    cmd.wait_for("session ended; the live view stays", timeout_s=120)
    cmd.proc.stdin.write("a\n")  # nothing asks any more: ignored
    cmd.proc.stdin.close()
    code, out = cmd.interrupt()
    assert "[page] go" in out and "note recorded: lung checked on the page" in out
    (session,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    stop = json.loads((session / "stop.json").read_text())
    results = json.loads((session / "results.json").read_text())
    points = {p["id"]: p for p in results["points"]}
    assert points["vc-01"]["verdict"] != "NOT TESTED" and len(points["vc-01"]["breaths"]) >= 3
    assert points["vc-02"]["verdict"] == "NOT TESTED"
    assert "skipped by the operator" in points["vc-02"]["reason"]
    assert "view page" not in points["vc-02"]["reason"]  # the terminal answered that one
    point1 = json.loads((session / "points" / "vc-01" / "point.json").read_text())
    assert "lung checked on the page" in json.dumps(point1)
    assert stop["status"] == "completed", stop
    assert code == stop["exit_status"]
