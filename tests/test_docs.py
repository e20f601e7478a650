"""The docs stay true: generated parts match the code (`./run docs`), every relative link and anchor
resolves, the README is short and its quick start is two commands that exist, and every variable
name the docs mention is in the contract."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import not_applicable
from tools import docs, harness

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "examples").rglob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def test_generated_parts_match_the_code():
    stale = [str(path.relative_to(ROOT)) for path, text in docs.wanted().items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"{stale} out of date: run `./run docs`"


@pytest.mark.parametrize("stack", harness.list_stacks())
def test_every_recorded_stack_has_the_schema_modeline_and_is_listed(stack):
    """A stack is recorded once its snapshot exists (`./run snapshot`); a new one is not held to this
    until then, so adding a stack file never breaks the suite."""
    from tools import snapshot

    if not snapshot.path_for(stack).exists():
        not_applicable(f"new stack {stack}: `./run docs` and `./run snapshot {stack}` record it")
    assert harness.stack_file(stack).read_text().startswith(docs.MODELINE + "\n"), "run `./run docs`"
    assert f"`{stack}`" in (ROOT / "docs" / "stacks.md").read_text(), "run `./run docs`"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    return [t for t in LINK.findall(text) if not re.match(r"[a-z]+:", t)]


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for target in relative_links(page):
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(target)
    assert not broken, f"broken links in {page.relative_to(ROOT)}: {broken}"


def test_the_link_checker_catches_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# Here it is\n")
    page.write_text("[ok](there.md#here-it-is) [gone](missing.md) [bad anchor](there.md#nowhere)\n")
    links = relative_links(page)
    assert links == ["there.md#here-it-is", "missing.md", "there.md#nowhere"]
    assert "here-it-is" in anchors(tmp_path / "there.md") and "nowhere" not in anchors(tmp_path / "there.md")


def test_readme_is_short_and_every_pattern_has_a_page():
    assert len(README.splitlines()) <= 300
    from cache_patterns.patterns import DOCS

    for doc in DOCS:
        assert f"]({doc.page})" in README and (ROOT / doc.page).exists()


def test_quick_start_is_exactly_two_commands_and_both_exist():
    block = README.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["./run", "./run test"]
    run = (ROOT / "run").read_text()
    assert 'cmd="${1:-render}"' in run and "test)" in run
    assert (ROOT / "run").stat().st_mode & 0o111


def test_ci_runs_the_readme_test_command():
    # `./run test` itself, with no arguments (an environment setting before it at most: the folder its
    # tiers write their outcomes to, the mutation check's baseline), and not behind a condition.
    lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line and not line.startswith("#")]
    runs = [line for line in lines if re.fullmatch(r'(?:[A-Z_]+="[^"]*" )*\./run test( &)?', line)]
    assert len(runs) == 1, lines
    if runs[0].endswith(" &"):
        # In the background (the mutation check's offline part runs beside it): its exit status is
        # waited for and decides CI's.
        text = "\n".join(lines)
        assert 'tests=$!' in text and 'wait "$tests" || tests_rc=$?' in text, lines
        assert lines[-1].startswith('[ "$tests_rc" -eq 0 ]'), lines[-1]


def test_every_env_var_name_in_the_docs_is_in_the_contract():
    from tests.test_contract import documented
    for page in PAGES:
        # CACHE_PATTERNS_* are this project's own tooling settings (CRD folder, toolchain cache, cluster tier).
        mentioned = {n for n in re.findall(r"`(CACHE_[A-Z0-9_]+)`", page.read_text())
                     if not n.startswith("CACHE_PATTERNS_")} - {"CACHE_L1", "CACHE_L2"}
        assert mentioned <= documented(), (page.name, mentioned - documented())
