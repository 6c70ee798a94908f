"""aevb.book.chapter: a chapter's one set-up call (its knobs checked, its threads claimed, its smoke-test settings
put in place, its clock started) and its closing rerun time."""
import time

import pytest
import torch

from aevb.book.chapter import Page, setup
from aevb.threads import registry_dir, release
from aevb.validation import ParameterError


@pytest.fixture
def threads(tmp_path, monkeypatch):
    """A registry of its own; torch's thread count and this process's claim as they were, afterwards."""
    monkeypatch.setenv("AEVB_THREADS_DIR", str(tmp_path / "threads"))
    before = torch.get_num_threads()
    yield registry_dir()
    release()
    torch.set_num_threads(before)


def test_setup_under_the_smoke_test_claims_one_thread_and_puts_the_reduced_settings_in_place(threads):
    namespace = {"budget": 3_000_000, "lr": 0.02, "smoke_test": True}
    before = time.perf_counter()
    page = setup(namespace, smoke={"budget": 50_000})
    assert namespace == {"budget": 50_000, "lr": 0.02, "smoke_test": True}
    assert torch.get_num_threads() == 1
    assert [p.name for p in threads.glob("*.json")]  # this process is registered
    assert page.smoke_test is True and before <= page.started <= time.perf_counter()


def test_setup_at_the_default_settings_keeps_them(threads):
    namespace = {"budget": 3_000_000, "smoke_test": False}
    page = setup(namespace, smoke={"budget": 50_000})
    assert namespace == {"budget": 3_000_000, "smoke_test": False} and page.smoke_test is False


@pytest.mark.parametrize("namespace, named", [({"budgte": 10, "smoke_test": True}, "budgte"),
                                              ({"budget": -1, "smoke_test": True}, "budget"),
                                              ({"budget": 10, "smoke_test": "yes"}, "smoke_test")])
def test_setup_stops_on_a_bad_knob_naming_it_and_changes_nothing(threads, namespace, named):
    kept = dict(namespace)
    with pytest.raises(ParameterError, match=named):
        setup(namespace, smoke={"budget": 5})
    assert namespace == kept and not list(threads.glob("*.json"))


def test_setup_refuses_a_smoke_setting_the_chapter_does_not_have(threads):
    with pytest.raises(KeyError, match="n_z"):
        setup({"budget": 10, "smoke_test": True}, smoke={"n_z": 2})


def test_the_pages_rerun_time_counts_from_its_start_and_adds_the_training_it_is_given():
    page = Page(smoke_test=True, started=time.perf_counter() - 125)
    words = page.rerun_time()
    assert set(words) == {"rerun_page", "rerun_settings", "rerun_machine"}
    assert words["rerun_page"] == "2 min" and "reduced" in words["rerun_settings"]
    trained = Page(smoke_test=False, started=time.perf_counter()).rerun_time((7200.0, ["a machine"]))
    assert trained["rerun_train"] == "2.0 h" and trained["rerun_train_machine"] == "a machine"
    assert trained["rerun_page"] == "1 s" and trained["rerun_settings"] == "at its default settings"
