"""docs/planning.md stays true: its generated sections (the rules, the pattern table of the example
workload) match the code, and the example and price files it points to are the ones the tool reads."""
from __future__ import annotations

from cache_patterns import planning
from cache_patterns import stack as config
from tools import plan

TEXT = plan.DOCS.read_text()


def test_generated_sections_match_the_code():
    assert plan.apply_docs(TEXT) == TEXT, "docs/planning.md is out of date: run `./run plan --write-docs`"


def test_every_rule_is_documented_with_its_source():
    for rule in planning.RULES:
        assert f"| `{rule.id}` |" in TEXT and rule.source in TEXT


def test_the_example_is_the_workload_the_page_describes():
    cfg = plan.load_file(plan.EXAMPLE)
    (cache,) = cfg.caches.values()
    w = config.workload(cache)
    assert (w.keys, w.key_bytes.mean, w.value_bytes.mean, w.ttl_share, w.replicas) == (5_000_000, 40, 500, 0.5, 1)
    assert "5 M keys of ~500 B" in TEXT and "docs/planning-example.yaml" in TEXT
    assert planning.prices.load(plan.EXAMPLE_PRICES).rows  # the example prices parse, each with its source
