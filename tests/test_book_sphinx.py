"""aevb.book.sphinx: the build-status page is read again at every (incremental) build."""
from types import SimpleNamespace

from aevb.book.sphinx import status_pages


def test_the_status_page_is_always_read_again():
    env = SimpleNamespace(found_docs={"intro", "status", "chapters/04_aevb_vae_mnist"})
    assert status_pages(None, env, set(), set(), set()) == ["status"]
    assert status_pages(None, env, set(), {"status"}, set()) == []  # already to be read: not listed twice
