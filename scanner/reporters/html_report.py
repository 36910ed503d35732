"""HTML: one self-contained page for people (a team lead, a reviewer, an auditor).

Everything is inline (CSS, script, SVG charts drawn here); a Content-Security-Policy forbids any
request, so the page works offline and cannot leak. Every string from a scanned file goes through
Jinja2's autoescaping; reference links are made only for http(s) URLs; the rules' data for the
expanded rows is embedded as JSON with `<` escaped. With JavaScript off every finding is listed, the
filters are hidden and each row's rule text is one link away (the rules section). With it, filters
and sorting work on a plain array over the rows, so 20,000 findings filter without lag.
"""

from __future__ import annotations

import datetime as _dt
import json
import posixpath
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from scanner import __version__
from scanner.model import SEVERITIES, Finding, in_repository
from scanner.rules.classes import CLASSES, rule_class

if TYPE_CHECKING:  # for the annotations only: a report needs neither module at run time
    from scanner.rules.loader import Rule
    from scanner.scan import ScanResult

COLORS = {"critical": "#b3261e", "high": "#e8590c", "medium": "#d4a106", "low": "#3b82c4", "info": "#7a869a"}
TOP = 10


def _state(finding: Finding) -> str:
    if finding.suppression is None:
        return "open"
    return "baselined" if finding.suppression.how == "baseline" else "suppressed"


def _anchor(finding: Finding, seen: Counter) -> str:
    base = f"f-{(finding.fingerprint or 'x')[:16]}"
    seen[base] += 1
    return base if seen[base] == 1 else f"{base}-{seen[base]}"


def _bars(items: Sequence[tuple[str, int, str]], title: str, width: int = 420) -> Markup:
    """A horizontal bar chart as inline SVG: (label, value, colour) per bar."""
    if not items:
        return Markup("")
    row, label_w = 22, 190
    top = max(v for _, v, _ in items) or 1
    height = row * len(items) + 6
    parts = [f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, (label, value, colour) in enumerate(items):
        y = i * row + 3
        bar = max(2, int((width - label_w - 50) * value / top)) if value else 0
        short = label if len(label) <= 30 else "…" + label[-29:]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" class="lbl">{escape(short)}<title>{escape(label)}'
            f'</title></text><rect x="{label_w}" y="{y + 2}" width="{bar}" height="{row - 8}" rx="2" fill="{colour}"/>'
            f'<text x="{label_w + bar + 5}" y="{y + 14}" class="val">{value}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _timeline(findings: Sequence[Finding], width: int = 860) -> Markup:
    """History findings on a time axis by the date their secret was introduced: filled dot still at
    HEAD, ring removed since (but still in history, still to rotate)."""
    points = []
    for f in findings:
        prov = f.provenance
        if prov is None or not prov.date or prov.source not in ("history", "range"):
            continue
        try:
            when = _dt.datetime.fromisoformat(prov.date.replace("Z", "+00:00"))
        except ValueError:
            continue
        points.append((when.timestamp(), when.date().isoformat(), f, bool(prov.present_at_head)))
    if not points:
        return Markup("")
    lo, hi = min(p[0] for p in points), max(p[0] for p in points)
    span = (hi - lo) or 1.0
    height, pad = 120, 40
    lanes: Counter = Counter()
    parts = [f'<svg class="chart" role="img" aria-label="When each secret was introduced" viewBox="0 0 {width} '
             f'{height}" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">'
             f'<title>When each secret was introduced</title>'
             f'<line x1="{pad}" y1="{height - 25}" x2="{width - pad}" y2="{height - 25}" class="axis"/>']
    for ts, day, f, present in sorted(points, key=lambda p: p[0]):
        x = pad + int((width - 2 * pad) * (ts - lo) / span)
        lane = lanes[x // 8]
        lanes[x // 8] += 1
        y = height - 35 - (lane % 8) * 9
        colour = COLORS.get(f.severity, "#888")
        fill = colour if present else "none"
        state = "still present at HEAD" if present else "removed at HEAD, still in history: rotate it"
        parts.append(f'<circle cx="{x}" cy="{y}" r="4" stroke="{colour}" stroke-width="2" fill="{fill}"><title>'
                     f'{escape(day)} {escape(f.rule_id)} {escape(f.shown_path)}: {state}</title></circle>')
    first = _dt.datetime.fromtimestamp(lo, _dt.timezone.utc).date().isoformat()
    last = _dt.datetime.fromtimestamp(hi, _dt.timezone.utc).date().isoformat()
    parts.append(f'<text x="{pad}" y="{height - 8}" class="lbl">{first}</text>'
                 f'<text x="{width - pad}" y="{height - 8}" text-anchor="end" class="lbl">{last}</text></svg>')
    return Markup("".join(parts))


def _folder(path: str) -> str:
    folder = posixpath.dirname(path)
    return folder + "/" if folder else "./"


def _link(url: str) -> Markup:
    if url.lower().startswith(("https://", "http://")):
        return Markup(f'<a href="{escape(url)}" rel="noreferrer noopener">{escape(url)}</a>')
    return escape(url)


def _provenance(finding: Finding) -> list[str]:
    prov = finding.provenance
    if prov is None or prov.source == "worktree" or not prov.commit:
        return []
    lines = [f"introduced in commit {prov.commit[:12]} by {prov.author} <{prov.email}> on {prov.date}"]
    if prov.present_at_head is False:
        lines.append("removed at HEAD, but still in git history: rotate the credential")
    elif prov.present_at_head:
        lines.append("still present at HEAD")
    for entry in prov.commits[:20]:
        lines.append(" ".join(str(entry.get(k, "")) for k in ("commit", "path", "date", "change") if entry.get(k)))
    if len(prov.commits) > 20:
        lines.append(f"... and {len(prov.commits) - 20} more commits")
    return lines


def _rules_data(rules: dict[str, Rule]) -> Markup:
    data = {
        rule_id: {
            "title": r.title, "description": r.description, "remediation": r.remediation,
            "references": list(r.references), "fix": (r.fix or {}).get("summary", "") if r.fix else "",
        }
        for rule_id, r in rules.items()
    }
    text = json.dumps(data, ensure_ascii=True).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def context(result: ScanResult, rules: Sequence[Rule]) -> dict[str, Any]:
    from scanner.fixers import edits  # (imports the editors: only for this report)

    by_id = {r.id: r for r in rules}
    used = {f.rule_id: by_id[f.rule_id] for f in result.findings if f.rule_id in by_id}
    classes = {rule_id: rule_class(r) for rule_id, r in by_id.items()}
    seen: Counter = Counter()
    rows = []
    for f in result.findings:
        rule = by_id.get(f.rule_id)
        rows.append({
            "f": f, "where": f.shown_path, "anchor": _anchor(f, seen), "state": _state(f), "cls": classes.get(f.rule_id, "other"),
            "title": rule.title if rule else f.rule_id, "provenance": _provenance(f),
            "fixable": edits(f, rule), "rank": SEVERITIES.index(f.severity) if f.severity in SEVERITIES else -1,
        })
    active = [r for r in rows if r["state"] == "open"]
    sev_counts = Counter(r["f"].severity for r in active)
    cls_counts = Counter(r["cls"] for r in active)
    folders = Counter(in_repository(r["f"].repository, _folder(r["f"].path)) for r in active)  # per repository
    files = Counter(r["where"] for r in active)
    repositories = [str(r["repository"]) for r in (result.meta or {}).get("repositories") or () if isinstance(r, dict)]
    severities = [s for s in ("critical", "high", "medium", "low", "info") if s in sev_counts or s in SEVERITIES]
    problems = [p for p in result.problems if p.level != "info"]
    return {
        "version": __version__,
        "root": ", ".join(repositories) if repositories else
                str(result.root if str(result.root) not in ("", ".") else result.root.resolve()),
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "show_secrets": getattr(result, "show_secrets", False),
        "rows": rows,
        "total": len(rows),
        "open": len(active),
        "suppressed": sum(1 for r in rows if r["state"] == "suppressed"),
        "baselined": sum(1 for r in rows if r["state"] == "baselined"),
        "severities": severities,
        "sev_counts": sev_counts,
        "classes": [c for c in CLASSES if cls_counts.get(c) or c != "other"],
        "cls_counts": cls_counts,
        "files": result.files,
        "megabytes": result.bytes / 1e6,
        "seconds": result.seconds,
        "problems": problems,
        "rules": sorted(used.values(), key=lambda r: r.id),
        "rule_ids": sorted({r["f"].rule_id for r in rows}),
        "chart_severity": _bars([(s, sev_counts.get(s, 0), COLORS[s]) for s in severities], "Open findings by severity"),
        "chart_class": _bars([(c, cls_counts.get(c, 0), "#5b6ee1") for c in CLASSES if cls_counts.get(c)],
                             "Open findings by class"),
        "chart_folders": _bars([(k, v, "#7a5af8") for k, v in folders.most_common(TOP)], "Top folders"),
        "chart_files": _bars([(k, v, "#0f9d8a") for k, v in files.most_common(TOP)], "Top files"),
        "chart_timeline": _timeline([r["f"] for r in rows]),
        "rules_json": _rules_data(used),
        "link": _link,
        "colors": COLORS,
    }


def render(result: ScanResult, rules: Sequence[Rule], color: bool = False) -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("scanner.reporters", "templates"),
        autoescape=True, trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2").render(**context(result, rules))
