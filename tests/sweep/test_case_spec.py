"""Cases are plain, hashable data; specs expand into them; the rolling study expands per window."""
from __future__ import annotations

import pickle

import pytest

from sloserve.errors import InputError
from sloserve.sweep import Case, load_spec


def test_a_case_is_frozen_hashable_and_names_itself_by_its_content():
    a = Case.make("plan", scenario="default", method="agh", seed=1, method_options={"time_limit_s": 5})
    b = Case.make("plan", scenario="default", method="agh", seed=1, method_options={"time_limit_s": 5.0})
    assert a == b and hash(a) == hash(b) and a.key == b.key and len(a.key) == 16
    assert pickle.loads(pickle.dumps(a)).key == a.key
    assert Case.make("plan", seed=2).key != Case.make("plan", seed=1).key
    assert Case.make("plan", stress={"s": 1.2}).key != Case.make("plan", stress={"s": 1.5}).key
    with pytest.raises(AttributeError):
        a.seed = 3  # frozen
    # the hash depends on nothing but the content (no process salt): a fixed value
    assert Case.make("echo", seed=3).key == Case.make("echo", seed=3).key == "23b7f41ca20caa2d"


def test_case_options_are_plain_data_only():
    with pytest.raises(InputError, match="plain data only"):
        Case.make("plan", params={"f": object()})
    c = Case.make("plan", window={"b": [1, 2], "a": {"x": 1}})
    assert c.window == (("a", (("x", 1),)), ("b", (1, 2)))
    assert c.columns()["window.b"] == "[1, 2]"


def test_a_spec_grid_is_the_cartesian_product_in_order():
    s = load_spec({"study": "echo", "base": {"params": {"offset": 1.0}},
                   "grid": {"seed": {"range": [3]}, "params.sleep_s": [0, 0.0]}})
    assert [c.seed for c in s.cases] == [0, 1, 2]  # sleep_s 0 and 0.0 are one case
    assert all(c.get("params", "offset") == 1.0 for c in s.cases)
    s2 = load_spec({"study": "echo", "grids": [{"grid": {"seed": [0, 1]}},
                                               {"base": {"params": {"offset": 2}}, "grid": {"seed": [0]}}]})
    assert len(s2.cases) == 3 and s2.options["grids.1.base.params.offset"] == 2


@pytest.mark.parametrize("spec, field", [
    ({"grid": {"seed": [0]}}, "study"),
    ({"study": "nope"}, "study"),
    ({"study": "echo", "grid": {"colour": [1]}}, "colour"),
    ({"study": "echo", "grid": {"seed": []}}, "grid.seed"),
    ({"study": "echo", "extra": 1}, "extra"),
    ({"study": "echo", "execution": {"threads": 2}}, "execution.threads"),
])
def test_bad_specs_name_the_field(spec, field):
    with pytest.raises(InputError) as e:
        load_spec(spec)
    assert field in str(e.value)


def test_the_rolling_study_expands_one_case_per_window_and_one_per_static_plan():
    s = load_spec({"study": "rolling", "base": {"window": {"hours": 5, "history_hours": 24, "window_min": 60}},
                   "grid": {"params.policy": ["rolling", "static_peak"]}})
    idx = [c.get("window", "index") for c in s.cases]
    assert idx == [0, 1, 2, 3, 4, None]
    s = load_spec({"study": "rolling", "base": {"window": {"hours": 2, "history_hours": 24, "window_min": 15}}})
    assert len(s.cases) == 8
    assert any(i["path"].endswith("default.yaml") for i in s.inputs)  # the scenario is an input
