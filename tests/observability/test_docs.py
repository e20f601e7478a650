"""docs/observability.md stays true: its alert and alarm tables are generated from the code that makes
the annotations and alarms, and every alert any stack can generate is listed there."""
from __future__ import annotations

import re
from pathlib import Path

from cache_patterns.observability import cloudwatch, rules
from tools import docs

PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"
SECTIONS = docs.SECTIONS["docs/observability.md"]


def test_the_generated_tables_match_the_code():
    text = PAGE.read_text()
    assert docs.apply(text, SECTIONS) == text, "run `./run docs`"


def test_every_alert_and_alarm_is_listed_with_what_to_do():
    text = PAGE.read_text()
    for name, doc in rules.CATALOGUE.items():
        # The row opens with the anchor each alert's runbook_url points at.
        row = next(line for line in text.splitlines() if line.startswith(f'| <a id="{doc.anchor}"></a>`{name}` |'))
        assert doc.runbook.replace("|", "\\|") in row and doc.meaning in row
    alarms = cloudwatch.node_alarms("noeviction", 1) + cloudwatch.node_alarms("allkeys-lru", 1) + \
        cloudwatch.serverless_alarms("noeviction", 1, 1000)
    for a in alarms:
        assert re.search(rf"^\| `{re.escape(a.key)}` \|", text, re.M), a.key
        if not a.verified:
            assert a.why_unverified in text


def test_a_changed_runbook_makes_the_page_out_of_date(monkeypatch):
    text = PAGE.read_text()
    changed = {**rules.CATALOGUE}
    first = next(iter(changed))
    changed[first] = rules.AlertDoc(**{**changed[first].__dict__, "runbook": "something else"})
    monkeypatch.setattr(rules, "CATALOGUE", changed)
    assert docs.apply(text, SECTIONS) != text
