"""The glossary (docs/glossary.md) checked against the notebooks, so that it cannot drift.

Each row names a term, says what it means, and links the numbered section (`## N · Title`) of
the notebook that explains it. Read from the notebooks' JSON, without running anything:

- the linked notebook and section exist, and the row gives the section's title;
- the term appears in that section's markdown, subsections (`###`) included;
- a term that the notebooks write in **bold** inside a numbered section points to the first
  such section of the course (01 to 07, then section order): moving a definition moves the row;
- every bold phrase that looks like a term is in the glossary or in EMPHASIS below.

Spellings are matched without magic: lower case, commas, `*` and backticks ignored, and a
plural in -s or -es or a hyphen for a space (or the other way round) counts as the term. Any
other spelling is written in the glossary itself, as an alias in brackets after the term:
`**multi-layer perceptron** (MLP)`. Aliases count for the section and completeness checks;
the first-bold check follows the term itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "docs" / "glossary.md"
NOTEBOOKS = ROOT / "notebooks"

# Bold phrases that look like terms (TERM_LIKE) but are emphasis, labels or names, not terms.
EMPHASIS = {
    # every notebook's first screen
    "you will learn",
    # 04 §3, batch normalisation by hand: its two modes, and the word "running" (the glossary
    # has "running averages")
    "in training",
    "at test time",
    "running",
    # 04 §9: the names of the ablation's variants, the leads of its findings, and a stress
    "recipe",
    "no batch norm",
    "constant rate",
    "plain sgd",
    "no dropout",
    "no augmentation",
    "adam against plain sgd",
    "the warm-up and decay",
    "the appearance augmentation",
    "disagree",
    # 05 §6: the two sides of a reliability diagram's diagonal
    "below",
    "above",
    # 08: a stress in section 2, and the names of section 4's two kinds of model
    "blurs",
    "baseline",
    "augmented",
    # 06: a step of section 3's recipe, the website's page, and section 9's three choices
    "cropped",
    "try the model",
    "small learning rate",
    "batch normalisation frozen",
    "mnist mixed in",
    # 07: a row of the robustness table, a lead of section 5's findings, a stress in section 6
    "mean",
    "the ensemble of the two",
    "any",
}

# A bold phrase looks like a term when it has one to four words of letters, with hyphens or
# apostrophes inside: no digits (exercise titles such as **01.1 · How many sevens?**, numbers
# such as **99.66 %**, sizes such as **20x20 box**) and no punctuation (sentences such as
# **Predict, then run.** or **Time:**).
TERM_LIKE = re.compile(r"[A-Za-z][A-Za-z' -]*[A-Za-z]|[A-Za-z]")
MAX_TERM_WORDS = 4

ROW = re.compile(
    r"^\| \*\*(?P<term>[^*]+)\*\*(?: \((?P<aliases>[^)]+)\))? \| (?P<meaning>[^|]+) \| "
    r"\[(?P<notebook>\d\d) §(?P<number>\d+) · (?P<title>[^\]]+)\]"
    r"\(\.\./notebooks/(?P<file>[^)]+\.ipynb)\) \|$"
)
TABLE_HEAD = ("| term | meaning | explained in |", "|---|---|---|")
SECTION_HEADING = re.compile(r"^## (.*)$")
NUMBERED = re.compile(r"^(\d+) · (.+)$")
BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.DOTALL)
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


@dataclass
class Entry:
    term: str
    aliases: list[str]
    meaning: str
    notebook: str
    number: int
    title: str
    file: str

    @property
    def names(self) -> list[str]:
        return [self.term, *self.aliases]

    @property
    def where(self) -> str:
        return f"{self.notebook} §{self.number}"


@dataclass
class Section:
    """A notebook's markdown from one `## ` heading to the next (the title's `# ` starts the
    introduction), its `###` subsections included."""

    notebook: str  # "02"
    file: str
    number: int | None  # None for the introduction and Summary, Next, Exercises
    title: str
    chunks: list[str]  # one per markdown cell, fenced code removed

    @property
    def where(self) -> str:
        return f"{self.notebook} §{self.number}" if self.number else f"{self.notebook} {self.title}"


def key(text: str) -> str:
    """Lower case, without `*`, backticks and commas, with single spaces."""
    return " ".join(re.sub(r"[*`,]", " ", text.lower()).split())


def forms(name: str) -> set[str]:
    """The spellings that count as ``name``: plural in -s or -es, hyphen or space."""
    base = key(name)
    found = set()
    for spelling in {base, base.replace("-", " "), base.replace(" ", "-")}:
        found |= {spelling, spelling + "s", spelling + "es"}
    return found


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` holds ``name`` in one of its forms, as whole words."""
    text = key(text)
    return any(
        re.search(rf"(?<![a-z0-9]){re.escape(form)}(?![a-z0-9])", text) for form in forms(name)
    )


def is_term_like(phrase: str) -> bool:
    phrase = " ".join(phrase.split())
    return bool(TERM_LIKE.fullmatch(phrase)) and len(phrase.split()) <= MAX_TERM_WORDS


def read_glossary(text: str) -> tuple[list[Entry], list[str]]:
    """The glossary's rows, and a problem for each table line that is not a well-formed row."""
    entries, problems = [], []
    for line in text.splitlines():
        if not line.startswith("|") or line in TABLE_HEAD:
            continue
        match = ROW.match(line)
        if not match:
            problems.append(f"not a glossary row (| **term** (aliases) | meaning | link |): {line}")
            continue
        aliases = match["aliases"].split(", ") if match["aliases"] else []
        entries.append(
            Entry(
                term=match["term"],
                aliases=aliases,
                meaning=match["meaning"],
                notebook=match["notebook"],
                number=int(match["number"]),
                title=match["title"],
                file=match["file"],
            )
        )
    return entries, problems


def read_sections(folder: Path) -> list[Section]:
    """Every notebook's markdown cut at its `## ` headings, in course order."""
    sections = []
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        notebook = path.name[:2]
        current = Section(notebook, path.name, None, "introduction", [])
        sections.append(current)
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "markdown":
                continue
            lines: list[str] = []
            for line in FENCE.sub("", cell.source).splitlines():
                heading = SECTION_HEADING.match(line)
                if heading:
                    current.chunks.append("\n".join(lines))
                    lines = []
                    numbered = NUMBERED.match(heading.group(1))
                    if numbered:
                        number, title = int(numbered.group(1)), numbered.group(2)
                        current = Section(notebook, path.name, number, title, [])
                    else:
                        current = Section(notebook, path.name, None, heading.group(1), [])
                    sections.append(current)
                lines.append(line)
            current.chunks.append("\n".join(lines))
    return sections


def bold_phrases(section: Section) -> list[str]:
    return [" ".join(b.split()) for chunk in section.chunks for b in BOLD.findall(chunk)]


def text_of(section: Section) -> str:
    return "\n".join(section.chunks)


# ----------------------------------------------------------------------------- the checks


def link_problems(entries: list[Entry], sections: list[Section], folder: Path) -> list[str]:
    problems = []
    titles = {(s.notebook, s.number): s.title for s in sections if s.number}
    for entry in entries:
        if not (folder / entry.file).exists():
            problems.append(f"{entry.term}: no notebook {entry.file}")
        elif entry.file[:2] != entry.notebook:
            problems.append(f"{entry.term}: the link says {entry.notebook} but opens {entry.file}")
        elif (entry.notebook, entry.number) not in titles:
            problems.append(f"{entry.term}: {entry.file} has no section '## {entry.number} · ...'")
        elif titles[entry.notebook, entry.number] != entry.title:
            problems.append(
                f"{entry.term}: {entry.where} is titled "
                f"'{titles[entry.notebook, entry.number]}', not '{entry.title}'"
            )
    return problems


def section_problems(entries: list[Entry], sections: list[Section]) -> list[str]:
    texts = {(s.notebook, s.number): text_of(s) for s in sections if s.number}
    problems = []
    for entry in entries:
        text = texts.get((entry.notebook, entry.number))
        if text is not None and not any(mentions(text, name) for name in entry.names):
            problems.append(f"{entry.term}: {entry.where} never says '{entry.term}'")
    return problems


def first_bold(term: str, sections: list[Section]) -> Section | None:
    """The first numbered section of the course that writes ``term`` in bold."""
    wanted = forms(term)
    for section in sections:
        if section.number and any(key(b) in wanted for b in bold_phrases(section)):
            return section
    return None


def first_bold_problems(entries: list[Entry], sections: list[Section]) -> list[str]:
    problems = []
    for entry in entries:
        first = first_bold(entry.term, sections)
        if first and (first.notebook, first.number) != (entry.notebook, entry.number):
            problems.append(
                f"{entry.term}: the glossary points to {entry.where}, but {first.where} "
                f"({first.title}) is the first section to write it in bold"
            )
    return problems


def completeness_problems(
    entries: list[Entry], sections: list[Section], emphasis: set[str]
) -> list[str]:
    known = set().union(*(forms(name) for entry in entries for name in entry.names))
    problems = []
    for section in sections:
        for phrase in bold_phrases(section):
            if is_term_like(phrase) and key(phrase) not in known | emphasis:
                problems.append(
                    f"{section.where}: **{phrase}** is neither in docs/glossary.md nor in "
                    "EMPHASIS (tests/test_glossary.py)"
                )
    return problems


# ----------------------------------------------------------------------------- the real files


@pytest.fixture(scope="module")
def glossary() -> list[Entry]:
    return read_glossary(GLOSSARY.read_text(encoding="utf-8"))[0]


@pytest.fixture(scope="module")
def sections() -> list[Section]:
    return read_sections(NOTEBOOKS)


def test_the_glossary_is_a_table_sorted_alphabetically_without_repeats(glossary):
    text = GLOSSARY.read_text(encoding="utf-8")
    assert text.startswith("# Glossary\n")
    assert read_glossary(text)[1] == []
    assert len(glossary) >= 60
    terms = [entry.term for entry in glossary]
    assert terms == sorted(terms, key=str.lower), "sort the rows by term, ignoring case"
    names = [key(name) for entry in glossary for name in entry.names]
    assert sorted({n for n in names if names.count(n) > 1}) == []


def test_each_entry_links_a_notebook_section_that_exists(glossary, sections):
    assert link_problems(glossary, sections, NOTEBOOKS) == []


def test_each_term_appears_in_the_section_it_links(glossary, sections):
    assert section_problems(glossary, sections) == []


def test_each_term_points_to_the_first_section_that_writes_it_in_bold(glossary, sections):
    assert first_bold_problems(glossary, sections) == []


def test_every_bold_term_in_the_notebooks_is_in_the_glossary(glossary, sections):
    assert completeness_problems(glossary, sections, EMPHASIS) == []


def test_the_emphasis_list_holds_only_bold_phrases_of_the_notebooks(glossary, sections):
    bold = {key(phrase) for section in sections for phrase in bold_phrases(section)}
    assert sorted(EMPHASIS - bold) == [], "no notebook writes these in bold any more: remove them"
    terms = set().union(*(forms(name) for entry in glossary for name in entry.names))
    assert sorted(EMPHASIS & terms) == [], "a glossary term cannot also be plain emphasis"


def test_learners_can_find_the_glossary():
    toc = (ROOT / "site" / "_toc.yml").read_text(encoding="utf-8")
    last_notebook = toc.index("file: notebooks/07_")
    glossary = toc.index("file: docs/glossary\n")
    assert last_notebook < glossary < toc.index("file: site/try\n"), "right after the notebooks"
    assert "](docs/glossary.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](glossary.md)" in (ROOT / "docs" / "teaching.md").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------- each check can fail


def _notebook(folder: Path, name: str, *markdown: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(text) for text in markdown]
    nbformat.write(nb, folder / name)


@pytest.fixture
def course(tmp_path) -> Path:
    """Two tiny notebooks: 01 bolds a logit in its section 2, 02 bolds it again."""
    _notebook(
        tmp_path,
        "01_intro.ipynb",
        "# 01 · Intro\n\n**You will learn** what **ensembles** are (the intro does not count).",
        "## 1 · Scores\n\nThe model gives scores.\n\n### More\n\nA *softmax* of them.",
        "## 2 · Logits\n\nThe ten **logits** are raw scores. **Predict, then run.**",
        "## Exercises\n\n**01.1 · Count the logits** (easy)",
    )
    _notebook(
        tmp_path,
        "02_more.ipynb",
        "## 1 · Again\n\nA **logit** and an **ensemble**,\nthen a **multi-layer\nperceptron**.",
    )
    return tmp_path


def _entry(term: str, where: str, title: str, aliases: tuple[str, ...] = ()) -> Entry:
    notebook, number = where.split(" §")
    file = {"01": "01_intro.ipynb", "02": "02_more.ipynb"}[notebook]
    return Entry(term, list(aliases), "a meaning", notebook, int(number), title, file)


def test_the_sections_include_their_subsections_and_skip_the_back_matter(course):
    sections = read_sections(course)
    assert [(s.where, s.title) for s in sections] == [
        ("01 introduction", "introduction"),
        ("01 §1", "Scores"),
        ("01 §2", "Logits"),
        ("01 Exercises", "Exercises"),
        ("02 introduction", "introduction"),
        ("02 §1", "Again"),
    ]
    assert "A *softmax* of them." in text_of(sections[1])
    assert bold_phrases(sections[5]) == ["logit", "ensemble", "multi-layer perceptron"]


def test_the_spellings_that_count_are_the_ones_written_down():
    assert mentions("The ten *Logits* are", "logit")
    assert mentions("a `cross entropy` loss", "cross-entropy")
    assert mentions("Warm-up, then cosine decay", "warm-up then cosine decay")
    assert not mentions("the logarithm", "log")  # whole words only
    assert not mentions("an MLP", "multi-layer perceptron")  # an alias must be written down
    assert is_term_like("McNemar's test") and is_term_like("IDX")
    assert not is_term_like("Predict, then run.") and not is_term_like("20x20 box")
    assert not is_term_like("show the network such images in training")  # five words


def test_a_malformed_row_is_reported():
    text = "| term | meaning | explained in |\n|---|---|---|\n| logit | raw score | 02 §1 |\n"
    entries, problems = read_glossary(text)
    assert entries == [] and len(problems) == 1 and "| logit |" in problems[0]


def test_a_link_to_a_missing_notebook_section_or_title_is_reported(course):
    sections = read_sections(course)
    entries = [
        _entry("logit", "01 §2", "Logits"),
        _entry("score", "01 §3", "Scores"),
        _entry("softmax", "01 §1", "Scorez"),
        Entry("gone", [], "a meaning", "04", 1, "Gone", "04_gone.ipynb"),
        Entry("mixed", [], "a meaning", "02", 1, "Again", "01_intro.ipynb"),
    ]
    assert link_problems(entries, sections, course) == [
        "score: 01_intro.ipynb has no section '## 3 · ...'",
        "softmax: 01 §1 is titled 'Scores', not 'Scorez'",
        "gone: no notebook 04_gone.ipynb",
        "mixed: the link says 02 but opens 01_intro.ipynb",
    ]


def test_a_term_missing_from_its_section_is_reported(course):
    sections = read_sections(course)
    entries = [
        _entry("softmax", "01 §1", "Scores"),  # in a subsection: fine
        _entry("logit", "01 §1", "Scores"),
        _entry("multi-layer perceptron", "01 §2", "Logits", aliases=("MLP",)),
    ]
    assert section_problems(entries, sections) == [
        "logit: 01 §1 never says 'logit'",
        "multi-layer perceptron: 01 §2 never says 'multi-layer perceptron'",
    ]


def test_a_term_that_is_bold_earlier_than_its_link_is_reported(course):
    sections = read_sections(course)
    entries = [
        _entry("logit", "02 §1", "Again"),
        _entry("ensemble", "02 §1", "Again"),  # bold in 01's introduction: does not count
        _entry("score", "01 §1", "Scores"),  # never bold: any section that says it
    ]
    assert first_bold_problems(entries, sections) == [
        "logit: the glossary points to 02 §1, but 01 §2 (Logits) is the first section to "
        "write it in bold"
    ]


def test_a_bold_term_missing_from_the_glossary_is_reported(course):
    sections = read_sections(course)
    entries = [_entry("logit", "01 §2", "Logits"), _entry("ensemble", "02 §1", "Again")]
    assert completeness_problems(entries, sections, {"you will learn"}) == [
        "02 §1: **multi-layer perceptron** is neither in docs/glossary.md nor in EMPHASIS "
        "(tests/test_glossary.py)"
    ]
