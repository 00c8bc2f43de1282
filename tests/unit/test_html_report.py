"""report.html.render: pure checks of the page (escaping, no external resource, caps), then a real headless
Chromium (Debian's ``chromium``, installed by .ci/setup): the page loads without a console error, the DOM holds the
charts, and a screenshot has the charts' colours in it.

Console errors are read over the DevTools protocol on a pipe (``--remote-debugging-pipe``: no port, no network):
``Runtime.consoleAPICalled`` (error/assert), ``Runtime.exceptionThrown`` and ``Log.entryAdded`` at level error (failed
loads, Content-Security-Policy violations). ``--enable-logging=stderr`` was tried first and is not enough: it prints
console.log and console.error alike at INFO and shows neither failed loads nor CSP violations. Each check is shown
to fail on a page made to fail it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest

from pytest_heval.report import html as html_report
from pytest_heval.compare import compare, load_results
from pytest_heval.report.html import render

DATA = Path(__file__).parent.parent / "data" / "html_report"
MODELS = ("ckpt-a", "ckpt-b", "ckpt-c")
XSS = '</script><img src=x onerror="console.error(\'XSS-EXECUTED\')"><script>console.error("XSS-SCRIPT")</script>'
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SIZE = (1280, 2000)


@pytest.fixture(scope="module")
def models() -> Dict[str, List[Dict[str, Any]]]:
    """Hand-written result rows (pure data) for three checkpoints; ckpt-a/b hold an XSS payload in a stderr."""
    return {m: load_results(str(DATA / f"{m}_results.jsonl")) for m in MODELS}


@pytest.fixture(scope="module")
def report(models) -> str:
    c = compare(models["ckpt-a"], models["ckpt-b"], old_label="ckpt-a", new_label="ckpt-b", resamples=2000)
    return render(models, c, ks=(1, 2))


# ---------------------------------------------------------------- the page itself (no browser)


def test_everything_from_results_is_escaped():
    rows = [{"task_id": XSS, "passed": False, "compile_ok": True, "error_type": "test_failure", "sample_index": 0,
             "result": XSS, "stdout": XSS, "stderr": XSS, "duration_s": 0.1}]
    page = render({XSS: rows}, compare(rows, rows, old_label=XSS, new_label=XSS, resamples=10), ks=(1,))
    assert "<img" not in page and "<script" not in page.lower()
    assert "&lt;/script&gt;&lt;img src=x onerror=&quot;console.error(&#x27;XSS-EXECUTED&#x27;)&quot;&gt;" in page
    assert page.count("&lt;/script&gt;&lt;img") >= 5  # label, task_id, result, stdout, stderr at least


def test_page_is_self_contained(report):
    assert re.search(r"<(script|link|img|iframe|object|embed|base)\b", report, re.I) is None
    tags = re.findall(r"<[a-zA-Z][^>]*>", report)  # escaped text from results has no "<", so these are real tags
    assert len(tags) > 100
    assert [t for t in tags if re.search(r"\s(src|href|srcset|xlink:href|action|on\w+)\s*=", t, re.I)] == []
    assert "url(" not in report and "@import" not in report and "@font-face" not in report
    assert "default-src 'none'" in report  # the browser refuses any script or fetch even if escaping failed


def test_charts_heatmap_and_comparison_are_drawn(models, report):
    assert report.count('class="bar"') == 5 and report.count('class="bar na"') == 1  # pass@2 is n/a for ckpt-c
    assert 'id="errors-chart"' in report and report.count('class="seg"') == 5 + 5 + 4
    assert 'id="heatmap"' in report and report.count('class="cell"') == 12 * 3
    assert 'id="ci-chart"' in report and "Paired comparison: ckpt-b vs ckpt-a" in report
    assert "p = 0.0625" in report and "no significant regression" in report
    plain = render(models, ks=(1,))
    assert 'id="comparison"' not in plain and 'id="passk-chart"' in plain


def test_huge_runs_are_capped_and_say_so():
    big = "x" * 5000 + "THE-END"
    rows = [{"task_id": f"T/{i // 2}", "passed": i % 3 == 0, "compile_ok": True,
             "error_type": None if i % 3 == 0 else "test_failure", "sample_index": i, "stdout": big, "stderr": ""}
            for i in range(40)]
    page = render({"m": rows}, ks=(1,), max_samples=7, max_problems=5, tail_chars=100)
    assert "Showing the first 7 of 40 samples" in page and page.count("<pre>") == 7
    assert "Showing the first 5 of 20 problems" in page and page.count('class="cell"') == 5
    assert "x" * 93 + "THE-END" in page and "x" * 94 + "THE-END" not in page and "stdout (tail)" in page
    assert "Showing" not in render({"m": rows}, ks=(1,))


def test_edge_cases_render():
    assert "No results given" in render({})
    a = [{"task_id": "a", "passed": True, "compile_ok": True, "error_type": None}]
    b = [{"task_id": "b", "passed": True, "compile_ok": True, "error_type": None}]
    page = render({"a": a, "b": b}, compare(a, b, resamples=10), ks=(1, 10))
    assert "No shared problems" in page and 'id="ci-chart"' not in page
    assert page.count('class="bar na"') == 2


# ---------------------------------------------------------------- a real browser


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is required for this test: `bash .ci/setup` installs it "
                    "(apt-get install -y chromium)")
    return path


def _high_fd(fd: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def console_problems(*urls: str, settle: float = 0.7, timeout: float = 60) -> List[List[str]]:
    """Open each url in its own tab of one headless Chromium, driven over a DevTools pipe; for each, every console
    error, uncaught exception and error-level log entry (failed load, CSP violation) seen until ``settle`` seconds
    after its load event."""
    user_dir = tempfile.mkdtemp(prefix="heval-chromium-")
    to_r, to_w = map(_high_fd, os.pipe())
    from_r, from_w = map(_high_fd, os.pipe())
    # Chromium reads commands on fd 3 and writes answers on fd 4
    proc = subprocess.Popen(["bash", "-c", f'exec "$@" 3<&{to_r} 4>&{from_w} {to_r}<&- {from_w}>&-', "bash",
                             chromium(), *FLAGS, f"--user-data-dir={user_dir}", "--remote-debugging-pipe"],
                            pass_fds=(to_r, from_w), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    os.close(to_r)
    os.close(from_w)
    inbox: List[Dict[str, Any]] = []
    buf = b""
    next_id = 0

    def read(wait: float) -> None:
        nonlocal buf
        if select.select([from_r], [], [], wait)[0]:
            chunk = os.read(from_r, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            *whole, buf = (buf + chunk).split(b"\0")
            inbox.extend(json.loads(m) for m in whole)

    def wait_for(pred) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(inbox):
                if pred(m):
                    return inbox.pop(i)
            if time.monotonic() > deadline:
                raise TimeoutError("chromium did not answer in time")
            read(0.1)

    def call(method: str, params: Dict[str, Any] = None, session: str = None) -> Dict[str, Any]:
        nonlocal next_id
        next_id += 1
        msg = {"id": next_id, "method": method, "params": params or {}, **({"sessionId": session} if session else {})}
        os.write(to_w, json.dumps(msg).encode() + b"\0")
        answer = wait_for(lambda m, i=next_id: m.get("id") == i)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    results = []
    try:
        for url in urls:
            target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Page"):
                call(f"{domain}.enable", session=session)
            call("Page.navigate", {"url": url}, session=session)
            wait_for(lambda m: m.get("method") == "Page.loadEventFired" and m.get("sessionId") == session)
            end = time.monotonic() + settle
            while time.monotonic() < end:
                read(0.05)
            call("Target.closeTarget", {"targetId": target})
            results.append(_problems([m for m in inbox if m.get("sessionId") == session]))
        call("Browser.close")
    finally:
        os.close(to_w)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(from_r)
        shutil.rmtree(user_dir, ignore_errors=True)
    return results


def _problems(events: List[Dict[str, Any]]) -> List[str]:
    problems = []
    for m in events:
        p = m.get("params", {})
        if m.get("method") == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            problems.append("console." + p["type"] + ": " + " ".join(str(a.get("value")) for a in p.get("args", [])))
        elif m.get("method") == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            problems.append("exception: " + str(d.get("exception", {}).get("description") or d.get("text")))
        elif m.get("method") == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            problems.append(f"log ({p['entry'].get('source')}): {p['entry'].get('text')}")
    return problems


def dump_and_shoot(page: Path, tmp_path: Path) -> Tuple[str, bytes]:
    """The DOM after load (--dump-dom) and a screenshot (--screenshot) of ``page``, each from a fresh profile."""
    out = []
    for extra in (["--dump-dom"], [f"--screenshot={tmp_path / 'shot.png'}", f"--window-size={SIZE[0]},{SIZE[1]}",
                                   "--hide-scrollbars"]):
        user_dir = tempfile.mkdtemp(prefix="heval-chromium-", dir=tmp_path)
        r = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={user_dir}", *extra, page.as_uri()],
                           capture_output=True, timeout=120)
        assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
        out.append(r.stdout)
    return out[0].decode(), (tmp_path / "shot.png").read_bytes()


def decode_png(data: bytes) -> Tuple[int, int, int, List[bytes]]:
    """(width, height, bytes per pixel, rows) of an 8-bit RGB/RGBA PNG, unfiltered (all five filter types)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    w, h, depth, ctype, _, _, interlace = header
    assert depth == 8 and ctype in (2, 6) and interlace == 0, header
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a, b, c = (line[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def colours(png: bytes) -> Counter:
    w, h, bpp, rows = decode_png(png)
    assert (w, h) == SIZE
    return Counter(r[i:i + 3].hex() for r in rows for i in range(0, len(r), bpp))


def test_console_check_fails_on_broken_pages(tmp_path):
    """The check is not vacuous: a JS error, a console.error, a failed load and a CSP violation are all caught."""
    js = tmp_path / "js_error.html"
    js.write_text("<!DOCTYPE html><p>x</p><script>console.error('deliberate'); notDefinedAnywhere();</script>")
    missing = tmp_path / "missing.html"
    missing.write_text('<!DOCTYPE html><p>x</p><img src="no-such-file.png">')
    csp = tmp_path / "csp.html"
    csp.write_text("<!DOCTYPE html><meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'\">"
                   "<script>document.title = 'ran'</script>")
    clean = tmp_path / "clean.html"
    clean.write_text("<!DOCTYPE html><p>x</p><script>console.log('only a log')</script>")
    js_p, missing_p, csp_p, clean_p = console_problems(*(p.as_uri() for p in (js, missing, csp, clean)))
    assert any("deliberate" in p for p in js_p), js_p
    assert any("notDefinedAnywhere is not defined" in p for p in js_p), js_p
    assert any("ERR_FILE_NOT_FOUND" in p for p in missing_p), missing_p
    assert any("Content Security Policy" in p for p in csp_p), csp_p
    assert clean_p == []


def test_report_in_chromium(report, tmp_path):
    page = tmp_path / "report.html"
    page.write_text(report, encoding="utf-8")
    assert console_problems(page.as_uri()) == [[]]

    dom, png = dump_and_shoot(page, tmp_path)
    for element in ('<svg id="passk-chart"', '<svg id="errors-chart"', '<table id="heatmap"', '<svg id="ci-chart"',
                    '<table id="summary"'):
        assert element in dom, element
    assert dom.count('class="bar"') == 5 and dom.count('class="seg"') == 14 and dom.count('class="cell"') == 36
    # the payload in the runs' stderr is text in the DOM, not an element
    assert "<img" not in dom and "&lt;/script&gt;&lt;img src=x onerror=" in dom

    if os.environ.get("HEVAL_SCREENSHOT"):  # to look at it: HEVAL_SCREENSHOT=/tmp/report.png
        Path(os.environ["HEVAL_SCREENSHOT"]).write_bytes(png)
    seen = colours(png)
    total = sum(seen.values())
    assert seen["ffffff"] < 0.9 * total  # not a blank page
    for colour in html_report.MODEL_COLOURS[:3] + (html_report.ERROR_COLOURS["passed"],
                                                   html_report.ERROR_COLOURS["test_failure"]):
        assert seen[colour.lstrip("#")] > 500, colour  # each model's bars, the outcome segments


def test_screenshot_and_dom_checks_fail_on_a_page_without_charts(tmp_path):
    page = tmp_path / "empty.html"
    page.write_text(render({}), encoding="utf-8")
    dom, png = dump_and_shoot(page, tmp_path)
    assert '<svg id="passk-chart"' not in dom
    seen = colours(png)
    assert seen["ffffff"] > 0.9 * sum(seen.values())
    assert seen[html_report.MODEL_COLOURS[0].lstrip("#")] == 0


def test_unescaped_page_would_be_caught(models, tmp_path, monkeypatch):
    """Turn the escaping off: the payload becomes elements and the browser reports the blocked script."""
    monkeypatch.setattr(html_report, "esc", lambda v: "" if v is None else str(v))
    page = tmp_path / "unsafe.html"
    page.write_text(render({"ckpt-a": models["ckpt-a"]}, ks=(1,)), encoding="utf-8")
    [problems] = console_problems(page.as_uri())
    assert any("Content Security Policy" in p for p in problems), problems
    dom, _ = dump_and_shoot(page, tmp_path)
    assert "<img" in dom


def test_legends_wrap_inside_their_charts():
    """Many models with long names and every error type: the svg grows to hold every legend line."""
    types = list(html_report.ERROR_COLOURS) + ["some_new_error_type"]
    rows = {f"checkpoints/run-{i:02d}/very-long-model-name-step-{i * 1000}": [
        {"task_id": f"t/{j}", "passed": t == "passed", "compile_ok": True,
         "error_type": None if t == "passed" else t} for j, t in enumerate(types)] for i in range(8)}
    page = render(rows, ks=(1,))
    for chart in ("passk-chart", "errors-chart"):
        svg = re.search(rf'<svg id="{chart}"[^>]* height="(\d+)"[^>]*>(.*?)</svg>', page, re.S)
        height = int(svg.group(1))
        lowest = max(float(y) for y in re.findall(r'<text [^>]*y="([\d.]+)"', svg.group(2)))
        assert lowest < height, (chart, lowest, height)
    assert "some_new_error_type" in page
