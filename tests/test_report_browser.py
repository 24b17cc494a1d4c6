"""Open the HTML report in headless Chromium: it renders, requests nothing but the file
itself, logs no console error, and a screenshot is saved.

The browser is driven over the DevTools protocol on ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-separated JSON; Python's standard library is enough). Every
request the page makes, every failed load, every console message and uncaught exception
is recorded. A second page with an external image proves the check can fail: the report's
Content-Security-Policy blocks the image, and the check sees it.

Skipped (with the reason) only when Chromium is not installed and ``CI`` is not ``true``;
in CI a missing browser fails the test.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_report_build import load_quietly, write_export

from dnoutcomes.report.build import build_report
from dnoutcomes.report.period import parse_period
from dnoutcomes.report.render_html import write_html

pytestmark = pytest.mark.slow

TIMEOUT = 60.0


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed, and CI=true: the browser test must run in CI")
    pytest.skip("chromium is not installed (apt-get install chromium); not in CI, so skipped")


@dataclass
class PageLog:
    """What the browser saw while loading one page."""

    requests: list[str] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    console: list[dict[str, Any]] = field(default_factory=list)
    exceptions: list[dict[str, Any]] = field(default_factory=list)
    log_errors: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    screenshot: bytes = b""

    @property
    def problems(self) -> list[str]:
        found = [f"failed request: {f}" for f in self.failed]
        found += [
            f"console {c.get('type')}: {c}"
            for c in self.console
            if c.get("type") in ("error", "assert", "warning")
        ]
        found += [f"exception: {e}" for e in self.exceptions]
        found += [f"log error: {e}" for e in self.log_errors]
        return found


class _DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        arguments = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        # The browser reads commands on fd 3 and writes answers on fd 4. A one-line Python
        # trampoline puts the pipe ends there and execs Chromium (no preexec_fn, which is
        # unsafe in a process with threads, as pytest-xdist workers are). It copies first:
        # the ends may already be fds 3 and 4, in either order.
        trampoline = (
            "import os, sys\n"
            "r, w = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))\n"
            "os.dup2(r, 3); os.dup2(w, 4)\n"
            "os.set_inheritable(3, True); os.set_inheritable(4, True)\n"
            "os.execv(sys.argv[3], sys.argv[3:])\n"
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                trampoline,
                str(to_browser_r),
                str(from_browser_w),
                binary,
                *arguments,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_browser_r, from_browser_w),
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no answer from Chromium's DevTools pipe")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 20)
                if not chunk:
                    raise ConnectionError("Chromium closed its DevTools pipe")
                self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer.get("result", {})
                return result
            self.events.append(answer)

    def wait_for(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, RuntimeError, TimeoutError, ConnectionError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        os.close(self._to_browser)
        os.close(self._from_browser)


def open_page(html_file: Path, profile: Path) -> PageLog:
    """Load ``html_file`` in headless Chromium at 1280 × 4000 and record what happened."""
    tools = _DevTools(_chromium(), profile)
    log = PageLog()
    try:
        targets = tools.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        session = tools.call(
            "Target.attachToTarget", {"targetId": page["targetId"], "flatten": True}
        )["sessionId"]
        for domain in ("Page", "Network", "Runtime", "Log"):
            tools.call(f"{domain}.enable", session=session)
        tools.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": 1280, "height": 4000, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        tools.events.clear()
        tools.call("Page.navigate", {"url": html_file.resolve().as_uri()}, session=session)
        tools.wait_for("Page.loadEventFired")
        script = (
            "JSON.stringify({title: document.title, sections: "
            "document.querySelectorAll('main > section').length, svgs: "
            "document.querySelectorAll('svg').length, tables: "
            "document.querySelectorAll('table').length, height: "
            "document.documentElement.scrollHeight, text: document.body.innerText.length})"
        )
        value = tools.call(
            "Runtime.evaluate", {"expression": script, "returnByValue": True}, session=session
        )
        log.results = json.loads(value["result"]["value"])
        shot = tools.call("Page.captureScreenshot", {"format": "png"}, session=session)
        log.screenshot = base64.b64decode(shot["data"])
    finally:
        tools.close()
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            log.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            log.failed.append(params)
        elif method == "Runtime.consoleAPICalled":
            log.console.append({"type": params.get("type"), "args": params.get("args")})
        elif method == "Runtime.exceptionThrown":
            log.exceptions.append(params)
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            log.log_errors.append(params["entry"])
    return log


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("browser")
    write_export(folder / "clinic")
    dataset = load_quietly(folder / "clinic")
    report = build_report(dataset, period=parse_period("2025-Q3"), run_time="2025-10-06T08:00:00Z")
    target = folder / "report.html"
    write_html(report, target)
    return target


def test_report_renders_offline_without_errors(report_file: Path, tmp_path: Path) -> None:
    log = open_page(report_file, tmp_path / "profile")
    assert log.problems == []
    # The only request is the file itself: no other host, no other file.
    assert log.requests == [report_file.resolve().as_uri()]
    assert log.results["title"].startswith("Dry needling for low back pain")
    # summary, headline, data quality, flow, caseload, Table 1, comparisons, safety,
    # control charts, benchmarking, methods
    assert log.results["sections"] == 11
    # Every figure embedded in the file renders (forest, I and U charts, the summary's
    # charts and the benchmarking funnels here; the flow diagram, the P chart and a chart
    # are left out when a count below min_cell could be read or worked back from them, and
    # the page says why).
    embedded = report_file.read_text(encoding="utf-8").count("<svg")
    assert log.results["svgs"] == embedded >= 3 and log.results["tables"] >= 10
    assert log.results["height"] > 4000 and log.results["text"] > 5000
    screenshot = tmp_path / "report-screenshot.png"
    screenshot.write_bytes(log.screenshot)
    assert log.screenshot.startswith(b"\x89PNG\r\n\x1a\n")
    width = int.from_bytes(log.screenshot[16:20], "big")
    height = int.from_bytes(log.screenshot[20:24], "big")
    assert (width, height) == (1280, 4000)
    assert screenshot.stat().st_size > 50_000  # a rendered page, not a blank one


def test_the_check_sees_an_external_request(report_file: Path, tmp_path: Path) -> None:
    html = report_file.read_text(encoding="utf-8")
    tampered = html.replace(
        "</main>", '<img src="http://127.0.0.1:9/tracker.png" alt="external"></main>', 1
    )
    page = tmp_path / "tampered.html"
    page.write_text(tampered, encoding="utf-8")
    log = open_page(page, tmp_path / "profile")
    # The report's Content-Security-Policy refuses the image before any connection is made,
    # and the refusal is what the check reports.
    assert "http://127.0.0.1:9/tracker.png" in log.requests
    assert [f.get("blockedReason") for f in log.failed] == ["csp"]
    assert any("Content Security Policy" in e.get("text", "") for e in log.log_errors)
    assert len(log.problems) == 2
