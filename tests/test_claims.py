"""Every quote the scorecard attributes to the paper stands word for word in the paper's text, at the place it
names (docs/paper-v11-excerpts.txt: the paragraphs of arXiv:1312.6114v11 that hold them)."""
import dataclasses

from aevb.book.claims import CLAIMS, DEMONSTRATIONS, OMITTED, READINGS, SENTENCES, excerpts, quoted_in


def test_every_quote_stands_in_the_paper_at_its_place():
    paper = excerpts()
    for c in CLAIMS.values():
        assert c.place in paper, f"{c.key}: no excerpt for {c.place}"
        assert quoted_in(c.quote, paper[c.place]), f"{c.key}: {c.quote!r} is not in the paper's {c.place}"


def test_a_quote_changed_by_a_word_or_moved_is_caught():
    paper = excerpts()
    c = CLAIMS["fig2-ordering"]
    assert not quoted_in(c.quote.replace("considerably", "much"), paper[c.place])
    assert not quoted_in(c.quote, paper["§5"])  # the caption's sentence is not §5's
    assert not quoted_in("better at every budget and every N_z, train and test", sum(paper.values(), []))
    parts = CLAIMS["b-variance"].quote.split(OMITTED)
    assert len(parts) == 2 and not quoted_in(OMITTED.join(reversed(parts)), paper["§2.3"])  # parts in order


def test_claims_are_kept_apart():
    keys = [c.key for c in SENTENCES + READINGS + DEMONSTRATIONS]
    assert len(keys) == len(set(keys)) == len(CLAIMS)
    assert all(c.subject.startswith("Fig. 3 shows (our reading)") for c in READINGS)
    assert all(c.subject.startswith("our demonstration") for c in DEMONSTRATIONS)
    assert not any("our reading" in c.subject or "demonstration" in c.subject for c in SENTENCES)
    assert all(dataclasses.is_dataclass(c) and c.evidence.split("#")[0].endswith(".html") for c in CLAIMS.values())
