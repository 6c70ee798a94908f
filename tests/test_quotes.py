"""Every passage of the book's prose that quotes the paper stands word for word in the paper's text
(arXiv:1312.6114v11, the paragraphs of ``docs/paper-v11-excerpts.txt``), at the place the prose names where it names
one: the chapters' markdown cells and the top-level pages.

A quote is a string in straight or curly double quotation marks, or a blockquote. It is the paper's when the words
before it in its sentence name the paper ("the paper", "§2.1", "App. D", "Fig. 2's caption", "Figure 3") or a place
follows it ("(§2.1)", "(App. D)", "is Figure 2's"); its places are the sections, appendices and figures named there,
and it must stand in one of them. Quotes of other works (Burda et al.'s title) or of code (``PARAMS="..."``) name no
place of the paper and are not held to it. Mathematics is left out of the comparison (the excerpts write it
``[math]`` or in plain text), and so are letter case and the shape of apostrophes.
"""
import json
import re
from pathlib import Path

import pytest

from aevb.book.claims import OMITTED, excerpts, quoted_in

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
PAGES = sorted(p for p in ROOT.glob("*.md") if p.name != "README.md")  # the book's top-level pages

MATH = "\x00"  # where mathematics stood in a quote: left out of the comparison, like OMITTED
CODE_FENCE = re.compile(r"^\s*(`{3,}|~{3,})\s*(.*?)\s*$")
CONTAINERS = {"admonition", "dropdown", "container", "note", "tip", "warning", "important", "seealso"}
MARKER = re.compile(r"\bpaper\b|§|\bApp\.|\bAppendix\b|\bcaption\b|\bFig(?:ure|\.)\s?\d", re.I)
PLACE = re.compile(r"§\s?(\d+(?:\.\d+)?)(?:\s?[–-]\s?(\d+(?:\.\d+)?))?"
                   r"|\bApp(?:endix|\.)\s?([A-F])\b|\bFig(?:ure|\.)\s?(\d)")
TAIL_PLACE = re.compile(r"[\s.,;:]*(?:\(([^()]*)\)|(?:is|are|of|in|paragraph of)\s+((?:§|App|Fig)[^,;()]{0,20}))")
ABBREVIATIONS = {"App", "Fig", "Figs", "eq", "Eq", "e.g", "i.e", "al", "cf", "vs", "Alg", "s.d", "w.r.t", "No"}
SENTENCE_END = re.compile(r"[.!?][\"”)*]*\s+|\n\s*(?:[-*]|\d+\.)\s|\n#+\s|\*\*[^*\n]+:\*\*")


def prose(markdown: str) -> str:
    """``markdown`` as text to read: code blocks, inline code and roles, HTML tags and link targets left out,
    mathematics replaced by ``MATH``; the text of admonitions and dropdowns kept."""
    out, open_containers, code = [], [], None
    for line in markdown.splitlines():
        fence = CODE_FENCE.match(line)
        if code is not None:
            if fence and fence.group(1).startswith(code) and not fence.group(2):
                code = None
            continue
        if fence:
            mark, info = fence.groups()
            name = re.match(r"\{([\w:-]+)\}", info)
            if name and name.group(1) in CONTAINERS:
                open_containers.append(mark)
            elif not info and open_containers and open_containers[-1] == mark:
                open_containers.pop()
            else:
                code = mark
            continue
        if not line.lstrip().startswith(":::"):
            out.append(line)
    text = "\n".join(out)
    text = re.sub(r"\{[\w:.-]+\}`[^`]*`", " ", text)
    text = re.sub(r"`[^`\n]*`", " ", text)
    text = re.sub(r"\$\$.*?\$\$", MATH, text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", MATH, text)
    text = re.sub(r"<[^>\n]+>", " ", text)
    return re.sub(r"\]\([^)\s]*\)", "]", text)


def _sentence_start(text: str, at: int) -> int:
    """Where the sentence holding ``text[at]`` starts (after a full stop that ends no abbreviation, a list item's
    marker, a heading's or a bold label's)."""
    start = 0
    for m in SENTENCE_END.finditer(text, 0, at):
        word = re.search(r"[\w.]*$", text[:m.start()]).group(0)
        if m.group(0)[0] == "." and word in ABBREVIATIONS:
            continue
        start = m.end()
    return start


def places(text: str) -> set[str]:
    """The places of the paper that ``text`` names, as the excerpts name them ("§2.1", "App. D", "Fig. 2")."""
    found = set()
    for m in PLACE.finditer(text):
        section, last, appendix, figure = m.groups()
        found |= {f"§{s}" for s in (section, last) if s}
        found |= {f"App. {appendix}"} if appendix else set()
        found |= {f"Fig. {figure}"} if figure else set()
    return found


def _quote(lead: str, words: str, tail: str) -> dict | None:
    """A quote with the words around it, if they attribute it to the paper: its words and the places named, in
    the words before it in its sentence, or right after it ("(§2.1)", "is Figure 2's", "paragraph of §5")."""
    after = TAIL_PLACE.match(tail)
    named = places(after.group(1) or after.group(2)) if after else set()
    if not (MARKER.search(lead) or named):
        return None
    words = words.replace("*", "").strip().strip('"“”').strip()
    return {"words": words, "places": places(lead) | named, "lead": lead[-80:]}


def paper_quotes(markdown: str) -> list[dict]:
    """The quotes of the paper in ``markdown``: blockquotes, and strings in quotation marks attributed to the
    paper by the words before or after them."""
    found, before = [], ""
    for para in re.split(r"\n\s*\n", prose(markdown)):
        lines = para.split("\n")
        quoted = [i for i, line in enumerate(lines) if line.lstrip().startswith(">")]
        if quoted:
            lead = "\n".join(lines[:quoted[0]]) or before
            block = " ".join(re.sub(r"^\s*>\s?", "", lines[i]) for i in quoted)
            place = re.search(r"\(([^()]*)\)\s*$", block)
            tail = place.group(0) if place and places(place.group(1)) else ""
            q = _quote(lead[_sentence_start(lead, len(lead)):], block[:len(block) - len(tail)], tail)
            found += [q] if q else []
            para = "\n".join(line for i, line in enumerate(lines) if i not in quoted)
        marks = [m.start() for m in re.finditer(r"[\"“”]", para)]
        straight = [i for i in marks if para[i] == '"']
        assert len(straight) % 2 == 0, f"unbalanced quotation marks in: {para[:200]!r}"
        spans = [(a, b) for a, b in zip(straight[::2], straight[1::2])]
        spans += [(m.start(), m.end() - 1) for m in re.finditer(r"“[^”]*”", para)]
        for a, b in sorted(spans):
            start = _sentence_start(para, a)
            if not para[start:a].strip():  # the quote opens its sentence: the sentence before may attribute it
                start = _sentence_start(para, max(start - 2, 0))
            nxt = min([s for s, _ in spans if s > b] + [len(para)])
            q = _quote(para[start:a], para[a + 1:b], para[b + 1:nxt])
            found += [q] if q else []
        before = para
    return found


def misquotes(markdown: str, paper: dict[str, list[str]]) -> list[str]:
    """The quotes of the paper in ``markdown`` that do not stand in it word for word, at a place named with them."""
    def fold(text: str) -> str:
        return text.replace("’", "'").casefold()

    folded = {place: [fold(p) for p in paras] for place, paras in paper.items()}
    wrong = []
    for q in paper_quotes(markdown):
        words = fold(q["words"].replace("[...]", OMITTED).replace(MATH, OMITTED))
        words = OMITTED.join(part for part in words.split(OMITTED) if part.strip(" ,.;:"))
        named = [p for p in folded if any(p == n or p.startswith(n + " ") for n in q["places"])]
        where = named or list(folded)
        if not quoted_in(words, sum((folded[p] for p in where), [])):
            wrong.append(f"{q['words']!r} (after {q['lead']!r}; places named: {sorted(q['places']) or 'none'})")
    return wrong


def _markdown(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@pytest.mark.parametrize("page", CHAPTERS + PAGES, ids=lambda p: p.name)
def test_every_quote_of_the_paper_stands_in_it(page):
    paper = excerpts()
    wrong = misquotes(_markdown(page), paper)
    assert wrong == [], f"{page.name}: not the paper's words at the place named:\n" + "\n".join(wrong)


def test_the_chapters_quote_the_paper_and_the_rule_sees_it():
    """The rule finds the book's quotes of the paper (dozens), so a pass is not a rule that finds nothing."""
    found = [q for page in CHAPTERS + PAGES for q in paper_quotes(_markdown(page))]
    assert len(found) >= 40, len(found)
    assert {"§2.1", "App. D", "Fig. 2"} <= set().union(*(q["places"] for q in found))


def test_the_rule_catches_a_changed_word_or_place_and_spares_other_quotes():
    paper = excerpts()
    caught = [
        'Fig. 2\'s caption: AEVB "converged much faster and reached a better solution in all experiments".',
        'The paper\'s "no overfitting" is what a leaky split shows.',
        '§2.2 says "Common applications in computer vision include image denoising, inpainting and super-resolution."',
        '> *Figure 1: The type of undirected graphical model under consideration.* (Fig. 1)',
        'App. D: the estimator "is only reliable for low-dimensional latent spaces (less than about 5)".',
    ]
    spared = [
        'Burda, Grosse & Salakhutdinov (2015, "Importance Weighted Autoencoders") and the paper\'s §5.',
        'its "test" frames are our 180 block test frames, and `make chapter CH=04 PARAMS="-p n_z 2"` reruns it.',
        '§2.1 poses "Efficient approximate marginal inference of the variable $\\mathbf{x}$".',
        'Its "(< 1)" is Figure 2\'s, of the bound.',
        '> *The first RHS term is the KL divergence of the approximate from the true posterior.* (§2.2)',
        'App. E says: “For all algorithms the parameters were updated using the Adagrad stepsizes (with accompanying\n'
        'annealing schedule).”',
    ]
    assert [t for t in caught if len(misquotes(t, paper)) != 1] == []
    assert [t for t in spared if misquotes(t, paper)] == []
