"""README.md and docs/*.md: every link resolves, every picture appears once, the README stays
a page a newcomer reads in five minutes, and every command the guides show exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from imgclf.stages import STAGES
from tests.support.project_copy import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "BENCHMARKS.md"]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
COMMANDS = {*STAGES, "predict", "serve", "profile", "compare", "missing-runs"}


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lowercase, punctuation but - and _ dropped, spaces -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    return {slug(m.group(1)) for m in re.finditer(r"(?m)^#{1,6} (.+)$", text)}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_and_anchor_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading with that anchor")
    assert not broken, f"{page.name}: {broken}"


def test_the_readme_is_a_short_page() -> None:
    lines = (REPO / "README.md").read_text().count("\n")
    assert lines <= 220, f"README.md has {lines} lines; guides belong in docs/"


def test_each_picture_appears_once_across_the_readme_and_the_guides() -> None:
    # By file name: `make docs` copies pictures of reports/ into docs/ under the same name.
    seen: dict[str, list[str]] = {}
    for page in PAGES[:-1]:
        for target in links(page):
            if target.endswith(".png"):
                seen.setdefault(Path(target).name, []).append(f"{page.name}: {target}")
    assert not {name: where for name, where in seen.items() if len(where) > 1}


def shown_commands() -> list[tuple[str, str]]:
    """(page, command line) of every line of every bash block of the README and guides."""
    found = []
    for page in PAGES[:-1]:
        for language, body in FENCE.findall(page.read_text()):
            if language == "bash":
                for line in body.splitlines():
                    line = line.split(" #", 1)[0].strip()
                    if line and not line.startswith("#"):
                        found.append((page.name, line))
    return found


def test_every_make_target_and_imgclf_command_shown_exists() -> None:
    makefile = (REPO / "Makefile").read_text()
    targets = set(re.findall(r"(?m)^([\w-]+):", makefile))
    sources = "\n".join(path.read_text() for path in (REPO / "src").rglob("*.py"))
    wrong = []
    for page, line in shown_commands():
        words = line.split()
        if words[0] == "make":
            wrong += [f"{page}: {line}" for w in words[1:2] if "=" not in w and w not in targets]
        if words[0] == "imgclf":
            if len(words) < 2 or words[1] not in COMMANDS:
                wrong.append(f"{page}: {line}")
            flags = [w.split("=")[0] for w in words[2:] if w.startswith("--")]
            wrong += [f"{page}: {line} ({flag})" for flag in flags if f'"{flag}"' not in sources]
    assert not wrong
