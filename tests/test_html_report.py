"""`--format html` and `scanner report`: the page people look at, checked in a real headless Chromium.

The browser tests need Debian's chromium and chromium-driver (.ci/run installs them); without them
they are skipped here, never in CI. The page's own logic is also checked without a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from scanner.model import SEVERITIES, Finding, Location, Provenance, Suppression
from scanner.reporters import html_report
from scanner.rules.loader import load_rules
from scanner.scan import ScanResult
from tests.conftest import FAKE_GH, FIXTURES, REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("SCANNER_TEST_ARTIFACTS", REPO / ".ci" / "artifacts"))
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"), reason="chromium and chromedriver are not installed"
)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "/usr/bin/chromedriver"), options=options)
    yield driver
    driver.quit()


def _requests(driver) -> list[str]:  # noqa: ANN001
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _click(browser, element) -> None:  # noqa: ANN001
    """A real click, on the element scrolled to the middle of the window: at the edge, the sticky
    filter bar can cover it and the click lands on the bar (ElementClickInterceptedException)."""
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def _screenshot(driver, path: Path) -> None:  # noqa: ANN001
    """The page as a picture for reviewers (an artifact, not an assertion): once the document has
    loaded; a capture Chromium aborts (a slow machine: "timeout ... aborted by navigation") is tried
    again, and after three tries left out with a warning rather than failing what was checked."""
    import warnings

    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    for attempt in range(3):
        try:
            WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
            driver.save_screenshot(str(path))
            return
        except WebDriverException as exc:
            error = exc
            time.sleep(1 + attempt)
    warnings.warn(f"no screenshot {path.name}: {str(error).splitlines()[0]}", stacklevel=2)


def _visible_rows(driver) -> int:  # noqa: ANN001
    """Rows the filters match (the page shows the first 200 of them at a time)."""
    listed = driver.execute_script("return document.querySelectorAll('#rows > .row').length")
    matched = int(driver.execute_script("return document.getElementById('shown').textContent"))
    assert listed == min(matched, 200)
    return matched


def _select(driver, element_id: str, value: str) -> None:  # noqa: ANN001
    driver.execute_script(
        "var s = document.getElementById(arguments[0]); s.value = arguments[1];"
        "s.dispatchEvent(new Event('change', {bubbles: true}));", element_id, value)


@pytest.fixture(scope="module")
def fixtures_report(tmp_path_factory) -> tuple[Path, dict]:
    """A scan of fixtures/ as JSON, and the page `scanner report` makes from it."""
    from scanner.cli import main

    out = tmp_path_factory.mktemp("report")
    saved, page = out / "fixtures.json", out / "fixtures.html"
    assert main(["scan", str(FIXTURES), "--format", "json", "--output", str(saved), "-q"]) in (0, 1)
    assert main(["report", str(saved), "--output", str(page)]) == 0
    return page, json.loads(saved.read_text())


@needs_browser
def test_fixtures_page_renders_filters_sorts_expands_and_makes_no_request(browser, fixtures_report) -> None:
    from selenium.webdriver.common.by import By

    page, saved = fixtures_report
    browser.get_log("performance")
    browser.get(page.as_uri())
    summary = saved["summary"]
    assert browser.find_element(By.ID, "sum-open").text == str(summary["findings"])
    assert browser.find_element(By.ID, "sum-suppressed").text == str(summary["suppressed"])
    for severity, count in summary["by_severity"].items():
        assert browser.find_element(By.ID, f"sum-{severity}").text == str(count)
    findings = saved["findings"]
    open_findings = [f for f in findings if not f["suppressed"]]
    assert _visible_rows(browser) == len(open_findings)  # the default state filter: open
    assert browser.find_element(By.ID, "shown").text == str(len(open_findings))
    _select(browser, "f-state", "")
    assert _visible_rows(browser) == len(findings)
    _select(browser, "f-state", "open")
    browser.execute_script("var b = document.querySelector('input[name=sev][value=low]'); b.click();")
    assert _visible_rows(browser) == sum(1 for f in open_findings if f["severity"] != "low")
    browser.execute_script("document.querySelector('input[name=sev][value=low]').click();")
    _select(browser, "f-rule", "k8s-run-as-root")
    assert _visible_rows(browser) == sum(1 for f in open_findings if f["rule"] == "k8s-run-as-root") > 0
    _select(browser, "f-rule", "")
    _select(browser, "f-cls", "secrets")
    secrets_rows = _visible_rows(browser)
    assert 0 < secrets_rows < len(open_findings)
    _select(browser, "f-cls", "")
    box = browser.find_element(By.ID, "f-path")
    box.send_keys("terraform/")
    browser.execute_script("document.getElementById('f-path').dispatchEvent(new Event('change', {bubbles: true}))")
    assert _visible_rows(browser) == sum(1 for f in open_findings if "terraform/" in f["path"])
    box.clear()
    browser.execute_script("document.getElementById('f-path').dispatchEvent(new Event('change', {bubbles: true}))")
    # sort by severity: critical first
    _click(browser, browser.find_element(By.CSS_SELECTOR, "[data-key=rank] button"))
    first = browser.execute_script("return document.querySelector('#rows > .row:not([hidden])').dataset.sev")
    assert first == "critical"
    _click(browser, browser.find_element(By.CSS_SELECTOR, "[data-key=rank] button"))
    first = browser.execute_script("return document.querySelector('#rows > .row:not([hidden])').dataset.sev")
    lowest = min((f["severity"] for f in open_findings), key=SEVERITIES.index)
    assert first == lowest
    # expand a row: the rule's description and remediation appear
    row = browser.find_element(By.CSS_SELECTOR, "#rows > .row[data-rule=k8s-run-as-root]")
    _click(browser, row.find_element(By.TAG_NAME, "summary"))
    text = row.find_element(By.CLASS_NAME, "more").text
    assert "Why:" in text and "How to fix:" in text and "Automatic fix:" in text and "runAsNonRoot" in text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.get(page.as_uri())
    _screenshot(browser, ARTIFACTS / "report-fixtures.png")
    requests = _requests(browser)
    assert requests and all(url.startswith(("file://", "data:", "about:")) for url in requests), requests


@needs_browser
def test_a_shared_link_opens_that_finding(browser, fixtures_report) -> None:
    page, saved = fixtures_report
    suppressed = next(f for f in saved["findings"] if f["suppressed"])
    anchor = f"f-{suppressed['fingerprint'][:16]}"
    browser.get(page.as_uri() + "#" + anchor)
    state = browser.execute_script(
        "var tr = document.getElementById(arguments[0]); return [tr.isConnected, tr.querySelector('details').open];", anchor)
    assert state == [True, True]


@needs_browser
def test_without_javascript_everything_is_listed(fixtures_report) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    page, saved = fixtures_report
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--blink-settings=scriptEnabled=false"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER or "/usr/bin/chromedriver"), options=options)
    try:
        driver.get(page.as_uri())
        rows = driver.find_elements(By.CSS_SELECTOR, "#rows > .row")
        assert len(rows) == len(saved["findings"]) and all(r.is_displayed() for r in rows[:50])
        assert not driver.find_element(By.ID, "filters").is_displayed()
        assert driver.find_element(By.CSS_SELECTOR, "#rule-k8s-run-as-root").is_displayed()
    finally:
        driver.quit()


@needs_browser
def test_dark_mode(browser, fixtures_report) -> None:
    page, _ = fixtures_report
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": "dark"}]})
    try:
        browser.get(page.as_uri())
        background = browser.execute_script("return getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(20, 23, 28)"
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})


def _hostile_result(tmp_path: Path) -> ScanResult:
    evil = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>.env'
    finding = Finding(
        rule_id="github-token", severity="critical", location=Location(evil, 3, 7),
        message='GitHub token in <b onmouseover="window.pwned=3">bold</b> javascript:alert(1)',
        evidence="ghp_********", fingerprint="a" * 32, pack="secrets",
        provenance=Provenance("history", "c" * 40, "Mallory <script>", "m@example.invalid", "2025-03-01T10:00:00+00:00",
                              False, ({"commit": "c" * 40, "path": evil, "date": "2025-03-01"},)),
    )
    quiet = finding._replace(location=Location("ok.env", 1, 1), fingerprint="b" * 32,
                             suppression=Suppression("external", "baseline", "accepted </script><script>window.pwned=4</script>"))
    return ScanResult([finding, quiet], [], 2, 100, 0.1, tmp_path)


def _hostile_rules(tmp_path: Path):  # noqa: ANN202
    pack = tmp_path / "evil.yaml"
    pack.write_text(
        "pack: evil\nrules:\n  - id: evil-rule\n    title: '<script>window.pwned=5</script>'\n    severity: low\n"
        "    description: '<img src=x onerror=window.pwned=6>'\n    remediation: 'see javascript:alert(1)'\n"
        "    references: ['javascript:window.pwned=7', 'https://example.com/\"><script>window.pwned=8</script>']\n"
        "    engine: secrets\n    keywords: [evil_]\n    pattern: '(?P<secret>evil_[a-z]{8})'\n"
        "    examples:\n      bad: ['x = evil_abcdefgh']\n      good: ['x = 1']\n")
    return load_rules([pack])


def test_hostile_names_messages_and_rule_text_stay_text(tmp_path: Path) -> None:
    result = _hostile_result(tmp_path)
    rules = _hostile_rules(tmp_path)
    result.findings.append(result.findings[0]._replace(rule_id="evil-rule", fingerprint="e" * 32))
    page = html_report.render(result, rules)
    body = page.split("<body>", 1)[1]
    for raw in ("<img src=x", "<script>window.pwned", '<b onmouseover', 'href="javascript:'):
        assert raw not in body.split('<script type="application/json"')[0], raw
    assert "&lt;img src=x onerror=" in body
    data = body.split('id="rules-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in data and json.loads(data)["evil-rule"]["title"] == "<script>window.pwned=5</script>"
    assert 'content="default-src \'none\'' in page


@needs_browser
def test_hostile_page_runs_no_injected_code(browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    result = _hostile_result(tmp_path)
    rules = _hostile_rules(tmp_path)
    result.findings.append(result.findings[0]._replace(rule_id="evil-rule", fingerprint="e" * 32))
    page = tmp_path / "evil.html"
    page.write_text(html_report.render(result, rules))
    browser.get(page.as_uri())
    _select(browser, "f-state", "")
    for summary in browser.find_elements(By.TAG_NAME, "summary"):
        _click(browser, summary)  # expanding fills in the rule text
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.execute_script("return document.querySelectorAll('main img').length") == 0
    assert "<script>window.pwned=5</script>" in browser.find_element(By.ID, "findings").text
    links = browser.execute_script("return Array.prototype.map.call(document.querySelectorAll('a[href]'), a => a.href)")
    assert not any(href.lower().startswith("javascript:") for href in links)


def test_show_secrets_page_says_so(tmp_path: Path) -> None:
    result = _hostile_result(tmp_path)
    assert "contains secrets in full" not in html_report.render(result, load_rules())
    page = html_report.render(result._replace(show_secrets=True), load_rules())
    assert "This report contains secrets in full (made with --show-secrets)" in page


def test_history_timeline_marks_removed_secrets(tmp_path: Path) -> None:
    page = html_report.render(_hostile_result(tmp_path), load_rules())
    assert "When each secret in history was introduced" in page
    assert "removed at HEAD, still in history: rotate it" in page


def test_report_command_turns_saved_json_into_every_format(cli, tmp_path: Path) -> None:
    (tmp_path / "deploy.env").write_text(f"GH_TOKEN={FAKE_GH}\n")
    saved = tmp_path / "scan.json"
    assert cli("scan", str(tmp_path), "--format", "json", "--output", str(saved)).code == 1
    direct = cli("scan", str(tmp_path), "--format", "sarif").out
    again = cli("report", str(saved), "--format", "sarif")
    assert again.code == 0
    strip = lambda doc: [(r["ruleId"], r["locations"], r["partialFingerprints"]) for r in json.loads(doc)["runs"][0]["results"]]  # noqa: E731
    assert strip(again.out) == strip(direct)
    text = cli("report", str(saved), "--format", "text").out
    assert "github-token" in text and FAKE_GH not in text
    html = cli("report", str(saved)).out
    assert "<!DOCTYPE html>" in html and "deploy.env" in html and FAKE_GH not in html
    bad = tmp_path / "bad.json"
    bad.write_text('{"tool": "other"}')
    run = cli("report", str(bad))
    assert run.code == 2 and "not a report written by 'scanner scan --format json'" in run.err


def test_large_report_is_one_row_per_finding(tmp_path: Path) -> None:
    findings = [Finding("k8s-run-as-root", "medium", Location(f"apps/svc{i % 300}/deploy.yaml", i % 90 + 1), "may run as root",
                        fingerprint=f"{i:032x}") for i in range(20000)]
    page = html_report.render(ScanResult(findings, [], 300, 10**6, 1.0, tmp_path), load_rules())
    assert page.count('role="row" id="f-') == 20000
    assert len(page) < 25_000_000
