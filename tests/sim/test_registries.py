"""The scheduler and predictor registries follow the one registry recipe."""
from __future__ import annotations

import pytest

from sloserve.errors import InputError
from sloserve.registry import RegistryError
from sloserve.sim.predictors import PREDICTORS, Predictor
from sloserve.sim.schedulers import SCHEDULERS, Scheduler


def test_registered_names():
    assert SCHEDULERS.names() == ["amax", "amin", "fcfs", "hsf", "mcsf"]
    assert PREDICTORS.names() == ["binned", "bucket", "interval", "naive", "oracle"]
    for e in SCHEDULERS.entries():
        assert issubclass(e.obj, Scheduler) and e.obj.name == e.name and e.help
    for e in PREDICTORS.entries():
        assert issubclass(e.obj, Predictor) and e.obj.name == e.name and e.help
    assert [n for n in SCHEDULERS if SCHEDULERS.get(n).clairvoyant] == ["hsf"]


def test_unknown_names_list_the_valid_ones_and_duplicates_raise():
    with pytest.raises(InputError, match=r"unknown scheduler 'sjf'.*amax.*mcsf"):
        SCHEDULERS.get("sjf")
    with pytest.raises(InputError, match=r"unknown predictor 'gpt'.*naive"):
        PREDICTORS.get("gpt")
    with pytest.raises(RegistryError, match="twice"):
        SCHEDULERS.register("amin")(Scheduler)
    with pytest.raises(RegistryError, match="twice"):
        PREDICTORS.register("naive")(Predictor)


def test_each_scheduler_instance_keeps_its_own_state():
    a, b = SCHEDULERS.get("amin")(), SCHEDULERS.get("amin")()
    assert a.queue is not b.queue
