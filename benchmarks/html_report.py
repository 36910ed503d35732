"""The HTML report with many findings: page size, load time and filter/sort times in headless Chromium.

    python benchmarks/html_report.py [--findings 20000]

Needs Debian's chromium and chromium-driver and the `selenium` package (the test extra). Prints
figures; asserts nothing (machines here are shared and noisy).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scanner.model import Finding, Location, Suppression  # noqa: E402
from scanner.reporters import html_report  # noqa: E402
from scanner.rules.loader import load_rules  # noqa: E402
from scanner.scan import ScanResult  # noqa: E402


def synthetic(count: int, seed: int = 7) -> ScanResult:
    rng = random.Random(seed)
    rules = [r for r in load_rules() if not r.opt_in]
    findings = []
    for i in range(count):
        rule = rng.choice(rules)
        sup = Suppression("external", "baseline", "") if rng.random() < 0.05 else None
        findings.append(Finding(rule.id, rule.severity, Location(f"services/team{i % 40}/app{i % 500}/file{i % 7}.yaml",
                                                                  rng.randint(1, 400)), f"{rule.title}: subject {i}",
                                "ghp_********", f"{i:032x}", rule.pack, suppression=sup))
    return ScanResult(findings, [], 5000, 80 * 10**6, 12.0, Path("/srv/repo"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--findings", type=int, default=20000)
    args = parser.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    started = time.perf_counter()
    page = html_report.render(synthetic(args.findings), load_rules())
    render_s = time.perf_counter() - started
    path = Path(tempfile.mkdtemp()) / "report.html"
    path.write_text(page)
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        started = time.perf_counter()
        driver.get(path.as_uri())
        load_s = time.perf_counter() - started
        steps = [
            ("state: all", "sel('f-state', '')"),
            ("severity off", "document.querySelector('input[name=sev][value=low]').click()"),
            ("severity on", "document.querySelector('input[name=sev][value=low]').click()"),
            ("class: secrets", "sel('f-cls', 'secrets')"),
            ("class: all", "sel('f-cls', '')"),
            ("path text", "var b = document.getElementById('f-path'); b.value = 'team1'; "
                          "b.dispatchEvent(new Event('change', {bubbles: true}))"),
            ("path cleared", "var b = document.getElementById('f-path'); b.value = ''; "
                             "b.dispatchEvent(new Event('change', {bubbles: true}))"),
            ("sort by location", "document.querySelector('[data-key=loc] button').click()"),
        ]
        timings = {}
        for name, action in steps:  # the script's time and the next frame's style and layout
            timings[name] = driver.execute_async_script(
                "var done = arguments[arguments.length - 1];"
                "function sel(id, v) { var s = document.getElementById(id); s.value = v;"
                " s.dispatchEvent(new Event('change', {bubbles: true})); }"
                "var t = performance.now();" + action + ";"
                "requestAnimationFrame(function () { document.body.offsetHeight;"
                " setTimeout(function () { done(performance.now() - t); }, 0); });")
        shown = driver.execute_script("return document.getElementById('shown').textContent")
    finally:
        driver.quit()
    print(f"{args.findings} findings: page {len(page) / 1e6:.1f} MB, rendered in {render_s:.2f} s, "
          f"loaded in Chromium in {load_s:.2f} s ({shown} rows shown)")
    for name, ms in timings.items():
        print(f"  {name:<18} {ms:8.1f} ms (until the next frame is laid out)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
