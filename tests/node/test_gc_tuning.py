"""[node] gc_young_threshold / gc_freeze helpers."""

from __future__ import annotations

import gc

import pytest

from ocnd.node import freeze_startup_objects, tune_gc
from support import make_config


@pytest.fixture
def restore_gc():
    threshold = gc.get_threshold()
    yield
    gc.set_threshold(*threshold)
    gc.unfreeze()


def test_tune_gc_sets_only_the_young_threshold(restore_gc):
    gc.set_threshold(700, 11, 12)
    tune_gc(20000)
    assert gc.get_threshold() == (20000, 11, 12)
    tune_gc(0)  # 0 keeps what is there
    assert gc.get_threshold() == (20000, 11, 12)


def test_freeze_moves_live_objects_out_of_collections(restore_gc):
    keep = [{"n": i} for i in range(1000)]
    assert freeze_startup_objects() >= len(keep)
    assert not any(obj is keep[0] for obj in gc.get_objects())


def test_config_defaults_and_validation(tmp_path):
    config = make_config(tmp_path)
    assert config["node"]["gc_young_threshold"] == 20000 and config["node"]["gc_freeze"] is True
    assert make_config(tmp_path, OCND_NODE_GC_YOUNG_THRESHOLD="0")["node"]["gc_young_threshold"] == 0
    with pytest.raises(Exception, match="gc_young_threshold"):
        make_config(tmp_path, OCND_NODE_GC_YOUNG_THRESHOLD="-1")
