"""axe-core (npm, under tests/browser/axe/) injected into a Playwright page."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

AXE_DIR = Path(__file__).resolve().parent / "axe"
AXE_JS = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
# WCAG 2.1 A and AA, and axe's best practices (landmarks, a single h1, ...).
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def axe_script() -> Path:
    """The axe-core build; ``npm install`` in tests/browser/axe when it is missing (CI's first run)."""
    if not AXE_JS.exists():
        try:
            subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=AXE_DIR, check=True,
                           capture_output=True, timeout=300)
        except (OSError, subprocess.SubprocessError) as exc:
            pytest.fail(f"axe-core is missing and `npm install` in {AXE_DIR} failed: {exc}")
    return AXE_JS


def axe_run(page) -> list[dict]:
    """Every violation axe finds on the page as it is now, reduced to what a report needs."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_script()))
    result = page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", TAGS)
    # An axe that checked nothing would report no violation: it must have passed rules too.
    assert len(result["passes"]) >= 10, f"axe-core ran {len(result['passes'])} rules on {page.url}"
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"], "helpUrl": v["helpUrl"],
             "nodes": [{"target": n["target"], "summary": n.get("failureSummary", "")}
                       for n in v["nodes"][:10]]}
            for v in result["violations"]]


def blocking(violations: list[dict]) -> list[dict]:
    return [v for v in violations if v["impact"] in BLOCKING]


def write_report(path: Path, runs: list[dict]) -> None:
    """The JSON report (every violation of every run) and a short markdown summary beside it."""
    path.write_text(json.dumps(runs, indent=1, ensure_ascii=False))
    lines = ["# axe-core on the student pages", "",
             "| page | language | width | serious/critical | minor/moderate |", "|---|---|---|---|---|"]
    for run in runs:
        bad = blocking(run["violations"])
        other = [v for v in run["violations"] if v not in bad]
        lines.append(f"| {run['page']} | {run['language']} | {run['width']} | "
                     f"{', '.join(v['id'] for v in bad) or '0'} | {', '.join(v['id'] for v in other) or '0'} |")
    path.with_suffix(".md").write_text("\n".join(lines) + "\n")
