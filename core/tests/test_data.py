import io
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch

from core.meta import DataMeta
from core.tables import table_from_csv, table_from_dataframe
from core.tasks import TASKS, check_samples, decode_samples, format_sample, make_task, task_defaults
from core.tasks.adult import COLUMNS as ADULT_COLUMNS
from core.tasks.adult import load_frame as load_adult_frame
from core.tasks.lookup import lookup_table
from core.tasks.words import word_list

SYNTHETIC = {"pairs": dict(n=5, V=3), "addition": dict(digits=2), "parity": dict(n=4)}
SMALL = dict(num_train=300, num_heldout=50)


def roundtrip(meta: DataMeta) -> DataMeta:
    return DataMeta.from_dict(json.loads(json.dumps(meta.to_dict())))


# --- synthetic tasks ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SYNTHETIC)
def test_synthetic_samples_are_valid_and_every_single_corruption_is_caught(name):
    ds = make_task(name, seed=3, **SYNTHETIC[name], **SMALL)
    assert ds.train.shape == (300, ds.meta.length) and ds.heldout.shape == (50, ds.meta.length)
    assert check_samples(ds.meta, ds.train).all() and check_samples(ds.meta, ds.heldout).all()
    x = ds.train[:40]
    for l, k in enumerate(ds.meta.num_categories):
        bad = x.clone()
        bad[:, l] = (bad[:, l] + 1) % k  # another valid category at one position
        assert not check_samples(ds.meta, bad).any(), (name, l)
        masked = x.clone()
        masked[:, l] = k  # out of range, e.g. a leftover mask id
        assert not check_samples(ds.meta, masked).any()


@pytest.mark.parametrize("name", SYNTHETIC)
def test_reference_groups_partition_positions_and_order_follows_groups(name):
    meta = make_task(name, **SYNTHETIC[name], **SMALL).meta
    groups, order = meta.reference_groups, meta.reference_order
    assert sorted(p for g in groups for p in g) == list(range(meta.length))
    assert sorted(order) == list(range(meta.length))
    group_of = {p: i for i, g in enumerate(groups) for p in g}
    assert [group_of[p] for p in order] == sorted(group_of[p] for p in order)


def test_pairs_values_and_layout():
    ds = make_task("pairs", n=4, V=5, **SMALL)
    b, c = ds.train[:, :4], ds.train[:, 4:]
    assert torch.equal(c, (b + torch.roll(b, -1, 1)) % 5)
    assert ds.meta.num_categories == [5] * 8 and ds.meta.position_names[:2] == ["b1", "b2"]
    assert ds.meta.reference_groups == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert len(set(ds.train[:, :4].flatten().tolist())) == 5


def test_lookup_values_validity_and_groups():
    ds = make_task("lookup", seed=2, n=5, V=4, **SMALL)
    table = lookup_table(4, 0)
    b, c = ds.train[:, :5], ds.train[:, 5:]
    assert torch.equal(c, table[b, torch.roll(b, -1, 1)])
    assert check_samples(ds.meta, ds.train).all()
    bad = ds.train.clone()
    bad[:, 7] = (bad[:, 7] + 1) % 4  # a wrong c is always caught
    assert not check_samples(ds.meta, bad).any()
    assert ds.meta.reference_groups == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    assert format_sample(ds.meta, ds.train[0]).startswith("b=")
    other = make_task("lookup", seed=2, n=5, V=4, table_seed=1, **SMALL)
    assert not torch.equal(other.train[:, 5:], c)  # the table is a task parameter


def test_majority_values_validity_and_groups():
    ds = make_task("majority", seed=1, n=5, **SMALL)
    b, c = ds.train[:, :5], ds.train[:, 5:]
    votes = b + torch.roll(b, -1, 1) + torch.roll(b, -2, 1)  # c_i counts b_i, b_i+1, b_i+2 around the circle
    assert torch.equal(c, (votes >= 2).long())
    row = torch.tensor([1, 1, 0, 0, 0, 1, 0, 0, 0, 1])  # c1 = maj(1,1,0), c4 = maj(0,0,1), c5 = maj(0,1,1)
    assert check_samples(ds.meta, row[None]).item()
    assert check_samples(ds.meta, ds.train).all()
    bad = ds.train.clone()
    bad[:, 6] = 1 - bad[:, 6]  # a flipped vote is always caught
    assert not check_samples(ds.meta, bad).any()
    assert ds.meta.reference_groups == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]] and ds.meta.num_categories == [2] * 10
    assert format_sample(ds.meta, row) == "b=11000 c=10001"
    with pytest.raises(ValueError, match="n"):
        make_task("majority", n=2)


def test_addition_layout_and_reference_order():
    ds = make_task("addition", digits=3, **SMALL)
    meta = ds.meta
    assert meta.length == 10 and meta.vocab_size == 10
    assert meta.reference_groups == [list(range(6)), list(range(6, 10))]
    assert meta.reference_order == list(range(6)) + [9, 8, 7, 6]  # sum digits least significant first
    row = torch.tensor([1, 2, 3, 4, 5, 6, 0, 5, 7, 9])
    assert check_samples(meta, row[None]).item()
    assert format_sample(meta, row) == "123+456=0579"


def test_parity_is_prefix_xor_and_reference_order_is_a_chain():
    ds = make_task("parity", n=6, **SMALL)
    b, p = ds.train[:, :6], ds.train[:, 6:]
    expected = torch.stack([b[:, :i + 1].sum(1) % 2 for i in range(6)], 1)
    assert torch.equal(p, expected)
    assert ds.meta.reference_order == list(range(12))
    assert format_sample(ds.meta, torch.tensor([0, 1, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1])) == "b=011010 p=010011"


def test_same_seed_same_data_other_seed_other_data():
    for name, params in SYNTHETIC.items():
        a, b = make_task(name, seed=7, **params, **SMALL), make_task(name, seed=7, **params, **SMALL)
        c = make_task(name, seed=8, **params, **SMALL)
        assert torch.equal(a.train, b.train) and torch.equal(a.heldout, b.heldout)
        assert not torch.equal(a.train, c.train)


def test_meta_params_rebuild_the_same_task():
    ds = make_task("pairs", seed=5, n=3, **SMALL)
    again = make_task(ds.meta.name, **ds.meta.params)
    assert torch.equal(again.train, ds.train) and again.meta == ds.meta


def test_make_task_rejects_unknown_names_and_params():
    with pytest.raises(ValueError, match="unknown task 'nope'.*pairs.*addition.*parity.*digits.*words.*adult"):
        make_task("nope")
    with pytest.raises(ValueError, match="unknown parameter.*bogus"):
        make_task("pairs", bogus=1)
    with pytest.raises(ValueError, match="n must be"):
        make_task("pairs", n=1)
    with pytest.raises(ValueError, match="num_train"):
        make_task("parity", num_train=0)
    assert set(task_defaults("pairs")) == {"seed", "n", "V", "num_train", "num_heldout"}
    assert set(TASKS) == {"pairs", "lookup", "majority", "addition", "parity", "digits", "words", "adult",
                          "sudoku"}


def test_format_sample_marks_unrevealed_positions():
    meta = make_task("pairs", n=3, **SMALL).meta
    assert format_sample(meta, torch.tensor([0, 1, 2, 1, 0, 2])) == "b=01_ c=10_"


# --- shipped datasets ---------------------------------------------------------------------------


def test_digits_shape_values_and_grid():
    ds = make_task("digits", seed=0)
    meta = ds.meta
    assert meta.shape == (8, 8) and meta.length == 64 and meta.num_categories == [17] * 64
    assert meta.reference_order is None and meta.reference_groups is None
    assert ds.train.shape[0] + ds.heldout.shape[0] == 1797 and ds.train.max() == 16 and ds.train.min() == 0
    grid = format_sample(meta, ds.train[0]).split("\n")
    assert len(grid) == 8 and all(len(r) == 8 for r in grid)
    assert check_samples(meta, ds.train) is None


def test_words_are_real_lowercase_words():
    ds = make_task("words", length=4)
    vocab = set(word_list(4))
    assert ds.meta.num_categories == [26] * 4
    assert ds.train.shape[0] + ds.heldout.shape[0] == len(vocab) > 1000
    decoded = ["".join(w) for w in decode_samples(ds.meta, ds.train[:50])]
    assert all(w in vocab for w in decoded)
    assert format_sample(ds.meta, ds.train[0]) == decoded[0]
    assert "hello" in word_list(5)


def test_adult_round_trips_through_bins():
    ds = make_task("adult", seed=1)
    meta = ds.meta
    assert meta.position_names == [c for c in ADULT_COLUMNS if c != "fnlwgt"]
    assert max(meta.num_categories) <= 64
    assert ds.train.shape[0] + ds.heldout.shape[0] == 32561
    raw = load_adult_frame()
    assert raw.shape == (32561, 15) and raw["workclass"].isna().sum() > 0  # "?" read as missing
    rows = decode_samples(meta, torch.cat([ds.train, ds.heldout]))
    by_name = dict(zip(meta.position_names, zip(*rows)))
    assert sorted(by_name["sex"]) == sorted(raw["sex"])
    assert by_name["workclass"].count("nan") == raw["workclass"].isna().sum()
    small = make_task("adult", columns="age,sex,income", num_bins=4)
    assert small.meta.position_names == ["age", "sex", "income"] and small.meta.num_categories[0] == 4
    assert torch.equal(make_task("adult", **small.meta.params).train, small.train)


# --- tables -------------------------------------------------------------------------------------


def frame(n=400, seed=0):
    r = np.random.default_rng(seed)
    return pd.DataFrame({
        "color": r.choice(["red", "green", "blue"], n),
        "size": r.normal(10, 3, n),
        "count": r.integers(0, 4, n),  # few distinct numbers -> categorical
        "flag": r.random(n) < 0.3,
        "constant": np.ones(n),
    })


def in_row_order(ds, seed):
    """Undo the seeded shuffle of a table built with heldout_fraction=0: rows in the DataFrame's order."""
    perm = torch.randperm(ds.train.shape[0], generator=torch.Generator().manual_seed(seed))
    x = torch.empty_like(ds.train)
    x[perm] = ds.train
    return x


def test_table_from_dataframe_round_trips_values_through_bins():
    df = frame()
    ds = table_from_dataframe(df, num_bins=5, heldout_fraction=0.0, seed=2)
    meta = ds.meta
    assert meta.position_names == ["color", "size", "count", "flag"]  # the constant column is dropped
    assert meta.num_categories == [3, 5, 4, 2] and ds.heldout.shape[0] == 0
    size = meta.decoders[1]
    assert size["type"] == "numeric" and len(size["edges"]) == 6 and not size["missing"]
    x = in_row_order(ds, seed=2)
    rows = decode_samples(meta, x)
    for r, (color, size_value, count, flag), k in zip(df.itertuples(), rows, x[:, 1].tolist()):
        assert (color, count, flag) == (r.color, r.count, r.flag)  # categorical: exact
        lo, hi = size["edges"][k], size["edges"][k + 1]
        assert lo <= r.size <= hi and lo <= size_value <= hi  # numeric: the bin's median, same bin
    counts = np.bincount(x[:, 1].numpy(), minlength=5)
    assert counts.min() > 0.1 * len(df)  # quantile bins are roughly balanced


def test_table_missing_values():
    df = pd.DataFrame({"city": ["a", None, "b", "a"] * 25, "x": [1.5, 2.5, np.nan, 4.0] * 20 + list(range(20))})
    meta = table_from_dataframe(df, num_bins=3).meta
    assert meta.decoders[0]["categories"] == ["a", "b", "nan"]
    dec = meta.decoders[1]
    assert dec["missing"] and meta.num_categories[1] == len(dec["values"]) + 1
    missing_code = len(dec["values"])
    assert math.isnan(decode_samples(meta, torch.tensor([[0, missing_code]]))[0][1])
    assert format_sample(meta, torch.tensor([2, missing_code])) == "city=nan, x=nan"


def test_point_mass_column_still_gets_two_bins():
    df = pd.DataFrame({"gain": [0] * 95 + [5, 17, 300, 1000, 20000] * 1, "g": ["a", "b"] * 50})
    dec = table_from_dataframe(df, num_bins=4).meta.decoders[0]
    assert dec["edges"][:2] == [0.0, 5.0] and dec["values"][0] == 0.0 and dec["integer"]


def test_table_meta_json_round_trip_and_check_samples_is_none():
    ds = table_from_dataframe(frame(), name="pairs")  # a table named like a task has no rule
    assert roundtrip(ds.meta) == ds.meta
    assert check_samples(ds.meta, ds.train) is None
    assert format_sample(ds.meta, ds.train[0]).startswith("color=")


@pytest.mark.parametrize("text, problem", [
    (b"a,b\n1,2\n3,4,5,6\n", "could not parse"),
    (b"", "empty"),
    (b"a,b,c\n", "no rows"),
    (b"a,b\n1,1\n2,1\n", "usable column"),
    (b"only\n1\n2\n", "usable column"),
    (b"id,v\n" + b"".join(b"u%d,%d\n" % (i, i % 2) for i in range(70)), "'id' has 70 categories"),
    (b",".join(b"c%d" % i for i in range(257)) + b"\n" + b",".join(b"1" for _ in range(257)) + b"\n",
     "257 columns"),
    (b"x,y\ninf,1\n2,2\n3,1\n", "infinite"),
])
def test_bad_csv_raises_named_problem(text, problem):
    with pytest.raises(ValueError, match=problem):
        table_from_csv(io.BytesIO(text))


def test_csv_round_trip(tmp_path):
    path = tmp_path / "t.csv"
    frame().to_csv(path, index=False)
    ds = table_from_csv(path, max_categories=8)
    assert ds.meta.position_names == ["color", "size", "count", "flag"]
    with pytest.raises(ValueError, match="max_categories"):
        table_from_csv(path, max_categories=1)


# --- DataMeta -----------------------------------------------------------------------------------


def test_datameta_json_round_trip_is_exact_and_normalizes_tuples():
    meta = DataMeta(name="grid", params={"seed": 1, "p": 0.5, "s": "x", "b": True, "none": None},
                    num_categories=(3, 3, 3, 3), position_names=("a", "b", "c", "d"), shape=[2, 2],
                    reference_groups=((0, 1), (2, 3)), reference_order=(1, 0, 3, 2))
    assert meta.shape == (2, 2) and meta.reference_groups == [[0, 1], [2, 3]]
    assert meta.num_categories == [3, 3, 3, 3] and meta.vocab_size == 3 and meta.length == 4
    back = roundtrip(meta)
    assert back == meta and isinstance(back.shape, tuple)
    assert json.dumps(back.to_dict()) == json.dumps(meta.to_dict())


def good_meta(**overrides):
    d = dict(name="t", params={}, num_categories=[2, 2, 2], position_names=["a", "b", "c"])
    return {**d, **overrides}


@pytest.mark.parametrize("overrides, problem", [
    (dict(num_categories=["2", 2, 2]), "num_categories must contain only ints"),
    (dict(num_categories=[2, 1, 2]), r"num_categories\[1\]"),
    (dict(position_names=["a", "b"]), "position_names"),
    (dict(position_names=["a", "a", "b"]), "unique"),
    (dict(shape=[2, 2]), "shape"),
    (dict(reference_groups=[[0, 1]]), "partition"),
    (dict(reference_groups=[[0, 1], [1, 2]]), "partition"),
    (dict(reference_groups=[[0], [1, 2]], reference_order=[1, 0, 2]), "groups one after another"),
    (dict(reference_order=[0, 0, 1]), "permutation"),
    (dict(params={"x": [1, 2]}), r"params\['x'\]"),
    (dict(params={"x": float("nan")}), r"params\['x'\]"),
    (dict(decoders=[None, None]), "decoders"),
    (dict(decoders=[{"type": "categorical", "categories": ["x"]}, None, None]), r"decoders\[0\]"),
    (dict(decoders=[{"type": "numeric", "edges": [0, 1, 1], "values": [0, 1], "missing": False,
                     "integer": False}, None, None]), "strictly increasing"),
    (dict(evil=1), "unknown data meta field"),
    (dict(name=""), "name"),
])
def test_datameta_from_dict_names_the_problem(overrides, problem):
    with pytest.raises(ValueError, match=problem):
        DataMeta.from_dict(good_meta(**overrides))


def test_datameta_from_dict_requires_fields():
    d = good_meta()
    del d["num_categories"]
    with pytest.raises(ValueError, match="missing.*num_categories"):
        DataMeta.from_dict(d)
    with pytest.raises(ValueError, match="JSON object"):
        DataMeta.from_dict([1, 2])


def test_samples_with_wrong_shape_raise():
    meta = make_task("pairs", n=3, **SMALL).meta
    with pytest.raises(ValueError, match=r"\[N, 6\]"):
        check_samples(meta, torch.zeros(4, 5, dtype=torch.long))


# --- issue 12, finding 5: CSV edge cases ------------------------------------------------------------------


def test_integers_that_collapse_to_one_float64_do_not_crash_the_binning():
    """2**62 + i are distinct integers but one float64: _quantile_edges raised IndexError."""
    import io

    from core.tables import table_from_csv

    rows = "\n".join(f"{2**62 + i},{i % 2},{i % 3}" for i in range(40))
    ds = table_from_csv(io.StringIO("big,b,c\n" + rows))
    assert "big" not in ds.meta.position_names  # one float64 value: a constant column, dropped
    rows = "\n".join(f"{2**62 + (i % 2) * 2**12 + i},{i % 2}" for i in range(40))  # two float64 values
    assert table_from_csv(io.StringIO("big,b\n" + rows)).meta.num_categories[0] == 2


def test_duplicate_csv_headers_get_a_message_not_a_silent_rename():
    import io

    from core.tables import table_from_csv

    with pytest.raises(ValueError, match="repeats the column name.*'a'"):
        table_from_csv(io.StringIO("a,b,a\n1,2,3\n4,5,6\n"))


def test_csv_with_a_byte_order_mark_keeps_its_first_column_name():
    import io

    from core.tables import table_from_csv

    raw = b"\xef\xbb\xbfage,b\n" + "\n".join(f"{i % 4},{i % 2}" for i in range(20)).encode()
    assert table_from_csv(io.BytesIO(raw)).meta.position_names == ["age", "b"]


def test_long_names_are_shortened_so_the_config_stays_loadable():
    from core import limits
    from core.tables import short_names

    df = pd.DataFrame({"c" * 500: [f"{'v' * 5000}{i % 50}" for i in range(200)], "b": [i % 2 for i in range(200)]})
    ds = table_from_dataframe(df)
    names = ds.meta.position_names + ds.meta.decoders[0]["categories"]
    assert all(len(n) <= limits.CSV_NAME_CHARS for n in names) and len(set(names[2:])) == 50
    first, second = short_names(["x" * 50, "x" * 50])
    assert first == "x" * 39 + "…" and second.endswith("~2") and len(second) <= limits.CSV_NAME_CHARS


def test_task_rules_and_formatters_ignore_params_that_do_not_fit_the_positions():
    """A config may say lookup with V = 10^5 over 4 positions: no 10^10-entry table, no IndexError."""
    from core.meta import DataMeta
    from core.tasks import check_samples, format_sample

    meta = DataMeta(name="lookup", params=dict(seed=0, n=2, V=10**5, table_seed=0), num_categories=[2] * 4,
                    position_names=list("abcd"))
    assert check_samples(meta, torch.zeros(3, 4, dtype=torch.long)) is None
    assert format_sample(meta, torch.zeros(4, dtype=torch.long)) == "0 0 0 0"
    digits = DataMeta(name="digits", params={}, num_categories=[4096] * 4, position_names=list("abcd"))
    assert format_sample(digits, torch.full((4,), 4095)) == "4095 4095 4095 4095"


def test_every_task_is_one_file_with_its_rule_in_words():
    """The registry finds each task's module, and the module holds the task whole: a builder whose defaults
    build, and the rule in words and as a formula for the pages (a task file without them fails here)."""
    from core.tasks import REGISTRY

    assert list(REGISTRY) == list(TASKS) and len(REGISTRY) >= 9
    for name, task in REGISTRY.items():
        assert task.name == name and task.build.__module__ == f"core.tasks.{name}"
        assert task.words.strip() and task.formula.strip() and task.easy_order.strip(), name
        assert task.defaults()["seed"] == 0


def test_a_server_run_records_a_bounded_number_of_snapshot_values():
    from core import limits

    cap = limits.TRAIN_MAX_SNAPSHOT_CELLS
    assert limits.snapshot_problem(100_000, 100_000 // 40, limits.TRAIN_MAX_POSITIONS) is None  # "auto"
    problem = limits.snapshot_problem(1200, 1, 1024)  # 1,202 snapshots of 1,024 exponents
    assert "1,202 snapshots" in problem and f"{cap:,}" in problem
    least = int(problem.split("evaluate every ")[1].split(" steps")[0].replace(",", ""))
    assert limits.snapshot_problem(1200, least, 1024) is None  # the advice is enough
    assert limits.snapshot_problem(1200, least - 1, 1024) is not None  # and no more than needed
