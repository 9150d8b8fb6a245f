"""Every doc the code and docs cite lives in this repository, and every section they cite exists.

Code and docs cite the method page by section ("docs/method.md, section 4") and the CPU notes by path
(docs/cpu-training-notes.md). These checks keep those citations pointing at files of a clean clone:
no path outside the repository, no bare file name that could mean any copy, no section number that the
method page does not have.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED_DIRS = ("agentgym", "backends", "skills", "tools", "docs")
SCANNED_FILES = ("README.md",)
SUFFIXES = {".py", ".md", ".yaml", ".yml", ".sh"}
METHOD = ROOT / "docs" / "method.md"

#: `docs/<path>.md` not preceded by a path character (so not part of a URL or of another path)
DOC_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]+?\.md\b")
#: a relative Markdown link target inside docs/: `](name.md` or `](../README.md#anchor`
MD_LINK = re.compile(r"\]\((?!https?:|#)([\w./-]+?\.md)(?:#[^)]*)?\)")
#: the two pages named without their folder
BARE_NAME = re.compile(r"(?<![\w./-])(?:method|cpu-training-notes)\.md\b")
#: paths outside the repository where these docs used to live
OUTSIDE = re.compile(r"/work/shared|\.\./shared\b")
#: the old citation form that names no file: "method section 3"
OLD_FORM = re.compile(r"\bmethod section\b", re.IGNORECASE)
#: a section citation of the method page: "docs/method.md, section 3", "(`docs/method.md`, sections 3-4)"
SECTION_CITE = re.compile(
    r"(?:docs/)?method\.md[`)\]]*,?\s+sections?\s+(\d+(?:\s*(?:-|–|,|and|or)\s*\d+)*)", re.IGNORECASE
)
#: inside the method page itself, "section 5" refers to its own numbering
OWN_SECTION = re.compile(r"\bsections?\s+(\d+(?:\s*(?:-|–|,|and|or)\s*\d+)*)", re.IGNORECASE)
HEADING = re.compile(r"^#{1,6}\s+(\d+)\.\s", re.MULTILINE)


def _scanned() -> list[Path]:
    files = [ROOT / f for f in SCANNED_FILES if (ROOT / f).is_file()]
    for d in SCANNED_DIRS:
        files += sorted(p for p in (ROOT / d).rglob("*") if p.is_file() and p.suffix in SUFFIXES
                        and "__pycache__" not in p.parts)
    return files


FILES = _scanned()


def _text(p: Path) -> str:
    return p.read_text(encoding="utf-8", errors="replace")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _numbers(spec: str) -> list[int]:
    """'3' -> [3]; '3-5' -> [3, 4, 5]; '3, 4 and 8' -> [3, 4, 8]."""
    out: list[int] = []
    for part in re.split(r"\s*(?:,|and|or)\s*", spec.strip()):
        bounds = [int(x) for x in re.split(r"\s*[-–]\s*", part) if x]
        if len(bounds) == 2:
            out += list(range(bounds[0], bounds[1] + 1))
        else:
            out += bounds
    return out


def method_sections() -> set[int]:
    return {int(n) for n in HEADING.findall(_text(METHOD))}


def test_the_cited_pages_exist():
    assert METHOD.is_file()
    assert (ROOT / "docs" / "cpu-training-notes.md").is_file()
    assert method_sections() >= {3, 4, 5, 8}, "the sections the code cites (3, 4, 5, 8) must keep their numbers"


def test_no_citation_points_outside_the_repository():
    bad = [f"{_rel(p)}:{_line(t, m.start())}: {m.group(0)}" for p in FILES for t in [_text(p)]
           for m in OUTSIDE.finditer(t)]
    assert not bad, "paths outside the repository:\n" + "\n".join(bad)


def test_cited_doc_paths_exist():
    bad = []
    for p in FILES:
        t = _text(p)
        for m in DOC_PATH.finditer(t):
            if not (ROOT / m.group(0)).is_file():
                bad.append(f"{_rel(p)}:{_line(t, m.start())}: {m.group(0)}")
        if p.suffix == ".md":
            for m in MD_LINK.finditer(t):
                target = m.group(1)
                if not (p.parent / target).resolve().is_file():
                    bad.append(f"{_rel(p)}:{_line(t, m.start())}: link {target}")
    assert not bad, "cited docs that do not exist in the repository:\n" + "\n".join(bad)


def test_pages_are_named_by_their_repository_path():
    """`method.md` alone is ambiguous (the old copies lived outside the repository): write docs/method.md.
    A relative Markdown link inside docs/ is fine (it resolves, which the test above checks)."""
    bad = []
    for p in FILES:
        t = _text(p)
        for m in BARE_NAME.finditer(t):
            if t[max(0, m.start() - 2) : m.start()] == "](" and p.parent == ROOT / "docs":
                continue
            bad.append(f"{_rel(p)}:{_line(t, m.start())}: {t[max(0, m.start() - 20) : m.end()]!r}")
        for m in OLD_FORM.finditer(t):
            bad.append(f"{_rel(p)}:{_line(t, m.start())}: {m.group(0)!r} (write 'docs/method.md, section N')")
    assert not bad, "doc names without their path:\n" + "\n".join(bad)


def _section_citations() -> list[tuple[str, int]]:
    cites = []
    for p in FILES:
        t = _text(p)
        pattern = OWN_SECTION if p == METHOD else SECTION_CITE
        for m in pattern.finditer(t):
            cites += [(f"{_rel(p)}:{_line(t, m.start())}", n) for n in _numbers(m.group(1))]
    return cites


def test_cited_method_sections_exist():
    cites = _section_citations()
    where = {w.split(":")[0] for w, _ in cites}
    assert {"backends/sdar.py", "backends/grpo.py", "agentgym/bench.py"} <= where, "the citation scan found nothing"
    sections = method_sections()
    bad = [f"{w}: section {n}" for w, n in cites if n not in sections]
    assert not bad, f"sections docs/method.md does not have (it has {sorted(sections)}):\n" + "\n".join(bad)


@pytest.mark.parametrize(("spec", "want"), [("3", [3]), ("3-5", [3, 4, 5]), ("3, 4 and 8", [3, 4, 8])])
def test_section_numbers_parse(spec, want):
    assert _numbers(spec) == want
