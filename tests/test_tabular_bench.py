"""The UCI table preparation (core/uci.py) on small files in the raw formats, and bench/tabular.py on a
tiny slice so the benchmark cannot rot. The real files, when present, are checked against their README."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core import uci

ROOT = Path(__file__).resolve().parents[1]


def _adult_rows(rng, n, test=False):
    dot = "." if test else ""
    rows = []
    for i in range(n):
        rows.append(", ".join(map(str, [
            rng.integers(17, 90), rng.choice(["Private", "State-gov", "?"]), rng.integers(10_000, 900_000),
            rng.choice(["Bachelors", "HS-grad"]), rng.integers(1, 16), rng.choice(["Divorced", "Never-married"]),
            rng.choice(["Sales", "Tech-support", "?"]), rng.choice(["Husband", "Wife"]),
            rng.choice(["White", "Black"]), ["Male", "Female"][i % 2], rng.choice([0, 0, 0, 2174, 14084]),
            rng.choice([0, 0, 1902]), rng.integers(1, 99), rng.choice(["United-States", "Cuba"]),
            ["<=50K", ">50K"][i % 2] + dot])))
    return rows


def write_raw_tables(root: Path, n: int = 120, seed: int = 0) -> None:
    """Files with the raw layouts and quirks the README describes (random values)."""
    rng = np.random.default_rng(seed)
    (root / "adult").mkdir(parents=True)
    (root / "adult" / "adult.data").write_text("\n".join(_adult_rows(rng, n)) + "\n\n")
    (root / "adult" / "adult.test").write_text("|1x3 Cross validator\n" + "\n".join(_adult_rows(rng, n // 2, True))
                                               + "\n\n")
    (root / "magic").mkdir()
    magic = pd.DataFrame(rng.normal(size=(n, 10)).round(4))
    magic["class"] = rng.choice(["g", "h"], n)
    magic.to_csv(root / "magic" / "magic04.data", header=False, index=False)
    (root / "shoppers").mkdir()
    shop = pd.DataFrame(rng.integers(0, 30, size=(n, 10)), columns=list(uci.SHOPPERS_COLUMNS[:10]))
    shop["Month"] = rng.choice(["Feb", "Mar", "May"], n)
    for c in ("OperatingSystems", "Browser", "Region", "TrafficType"):
        shop[c] = rng.integers(1, 4, n)
    shop["VisitorType"] = rng.choice(["Returning_Visitor", "New_Visitor"], n)
    shop["Weekend"] = rng.choice([True, False], n)
    shop["Revenue"] = rng.choice([True, False], n)
    shop.to_csv(root / "shoppers" / "online_shoppers_intention.csv", index=False, lineterminator="\r\n")
    (root / "beijing").mkdir()
    bj = pd.DataFrame({"No": np.arange(1, n + 1), "year": rng.integers(2010, 2015, n), "month": rng.integers(1, 13, n),
                       "day": rng.integers(1, 29, n), "hour": rng.integers(0, 24, n),
                       "pm2.5": rng.integers(5, 400, n).astype(float), "DEWP": rng.integers(-30, 25, n),
                       "TEMP": rng.integers(-15, 40, n), "PRES": rng.integers(990, 1040, n),
                       "cbwd": rng.choice(["NW", "SE", "cv"], n), "Iws": rng.exponential(20, n).round(2),
                       "Is": rng.choice([0, 0, 1], n), "Ir": rng.choice([0, 0, 2], n)})
    bj.loc[:4, "pm2.5"] = np.nan  # written NA, dropped
    bj.to_csv(root / "beijing" / "PRSA_data_2010.1.1-2014.12.31.csv", index=False, na_rep="NA")
    (root / "default").mkdir()
    cols = [c for c in uci.DEFAULT_COLUMNS]
    df = pd.DataFrame(rng.integers(0, 5, size=(n, len(cols))), columns=cols)
    df["LIMIT_BAL"] = rng.integers(1, 50, n) * 10_000
    df.insert(0, "ID", np.arange(1, n + 1))
    df.to_csv(root / "default" / "UCI_Credit_Card.csv", index=False)


@pytest.fixture(scope="module")
def raw_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("uci")
    write_raw_tables(root)
    return root


def test_every_table_is_found_read_split_and_encoded(raw_root):
    assert uci.available(raw_root) == list(uci.TABLES)
    for name, spec in uci.TABLES.items():
        ds, test = uci.load_table(name, raw_root, num_bins=4)
        assert ds.meta.position_names == list(spec.columns)
        assert test.shape[1] == ds.train.shape[1] == len(spec.columns)
        assert ((test >= 0) & (test < torch.tensor(ds.meta.num_categories))).all()
        if name == "adult":  # the official split; the test file's comment line and label dots are handled
            assert (len(ds.train), len(test)) == (120, 60)
            assert ds.meta.decoders[-1]["categories"] == ["<=50K", ">50K"]
        else:
            n = {"magic": 119, "beijing": 115}.get(name, 120)  # magic's first record; beijing's NA rows
            assert (len(ds.train), len(test)) == (int(0.9 * n), n - int(0.9 * n)), name


def test_split_is_tabdiffs_and_puts_every_category_in_train():
    df = pd.DataFrame({"c": ["a"] * 95 + ["rare"] * 1 + ["b"] * 4, "v": range(100)})
    train, test = uci.split(df, ["c"])
    assert set(train["c"]) == {"a", "b", "rare"} and len(train) == 90 and len(test) == 10
    again, _ = uci.split(df, ["c"])
    assert train.equals(again)
    assert set(train["v"]) | set(test["v"]) == set(range(100))
    # without the category requirement the first shuffle (numpy seed 1234) is used as is
    idx = np.arange(100)
    np.random.seed(1234)
    np.random.shuffle(idx)
    plain, _ = uci.split(df, [])
    assert plain["v"].tolist() == idx[:90].tolist()


def test_bins_are_fitted_on_train_and_applied_to_test():
    train = pd.Series(np.arange(100.0))
    test = pd.Series([-5.0, 0.0, 48.5, 49.0, 99.0, 1e6])
    codes_train, codes_test, decoder = uci.encode_pair(train, test, "v", True, 4, 64)
    assert decoder["type"] == "numeric" and len(decoder["values"]) == 4
    assert codes_test.tolist() == [0, 0, 1, 2, 3, 3]  # bin k: edges[k] <= v < edges[k+1]; outside the train range: the end bins
    assert decoder["edges"] == [0, 24, 49, 74, 99] and np.bincount(codes_train).tolist() == [24, 25, 25, 26]


def test_every_configuration_makes_the_same_forward_passes():
    import tabular

    settings = tabular.PRESETS["reduced"]
    configs = {name: tabular._train_config("adult", name, 0, settings) for name in tabular.CONFIGS}
    assert {c.batch_size * c.K for c in configs.values()} == {settings.batch_size * settings.K}
    assert configs["learned-k8"].K == 8 and configs["learned-continuous"].estimator == "continuous"
    assert configs["linear"].schedule == "linear" and configs["learned"].estimator == "discrete"


def test_unknown_table_and_missing_files_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown table 'news'"):
        uci.load_table("news", tmp_path)
    with pytest.raises(FileNotFoundError, match="magic04.data"):
        uci.load_table("magic", tmp_path)


def test_benchmark_runs_on_a_tiny_slice_and_resumes(raw_root, tmp_path):
    out = tmp_path / "tab.json"
    cmd = [sys.executable, "bench/tabular.py", "--preset", "tiny", "--tables", "adult,magic",
           "--configs", "linear,learned", "--seeds", "0", "--jobs", "1", "--data", str(raw_root),
           "--out", str(out)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    records = json.loads(out.read_text())
    assert len(records) == 4 and {r["config"] for r in records} == {"linear", "learned"}
    for r in records:
        assert np.isfinite(r["test_nelbo"]) and r["test_se"] > 0 and 0 <= r["shape"] <= 1 and 0 <= r["trend"] <= 1
        assert r["test_orders"] == 1 and r["best_val_nelbo"] > 0
        assert r["best_step"] in (0, 10, 20) and len(r["expected_rank"]) == len(r["columns"])
    for r in records:  # the best state's schedule: trained (after the 5-step freeze) only when learned
        assert (len(set(r["exponents"])) > 1) == (r["config"] == "learned" and r["best_step"] > 5), r
    assert "adult     learned" in first.stdout and "magic     linear" in first.stdout
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert "0 run(s) to do (4 already in" in again.stdout
    assert len(json.loads(out.read_text())) == 4
    table = subprocess.run([sys.executable, "bench/tabular.py", "--summary", "--markdown", "--out", str(out)],
                           cwd=ROOT, capture_output=True, text=True, timeout=300).stdout
    assert "| adult | 13.152 | 13.186 |" in table and "| magic | 12.471 | 12.611 |" in table
    assert table.count("learned: ") == 2  # one verdict per table against its linear runs
    figures = subprocess.run([sys.executable, "bench/tabular_figures.py", str(out), "--out", str(tmp_path / "fig")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert figures.returncode == 0, figures.stderr
    for name in ("nelbo.png", "nelbo-seeds.png", "order-adult.png", "order-magic.png"):
        assert (tmp_path / "fig" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not uci.available(), reason="the raw UCI files are not beside this checkout")
def test_real_tables_have_the_readme_sizes():
    sizes = {"adult": (32561, 16281), "default": (27000, 3000), "beijing": (37581, 4176),
             "shoppers": (11097, 1233), "magic": (17117, 1902)}
    for name in uci.available():
        train, test = uci.train_test(name)
        assert (len(train), len(test)) == sizes[name], name


def test_reference_fidelity_of_real_rows_is_printed(raw_root):
    cmd = [sys.executable, "bench/tabular.py", "--preset", "tiny", "--tables", "adult", "--data", str(raw_root),
           "--reference"]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    shape, trend = (float(v) for v in result.stdout.split("shape")[1].split("trend"))
    assert 0.5 < shape <= 1 and 0.5 < trend <= 1  # 64 real rows against 60 test rows of the same distribution


def test_generated_codes_decode_to_train_values_in_their_bin(raw_root):
    train, test = uci.train_test("adult", raw_root)
    ds, _ = uci.encode("adult", train, test, num_bins=4)
    codes = ds.train[torch.randperm(len(ds.train), generator=torch.Generator().manual_seed(0))]
    rows = uci.decode_rows("adult", codes, ds.meta, train, np.random.default_rng(0))
    assert list(rows.columns) == list(uci.TABLES["adult"].columns) and len(rows) == len(codes)
    for j, (col, decoder) in enumerate(zip(ds.meta.position_names, ds.meta.decoders)):
        if decoder["type"] == "numeric":  # a train value of the same bin
            assert set(rows[col]) <= set(train[col].astype(float)), col
            again = uci.apply_bins(rows[col].to_numpy(), decoder)
            assert again.tolist() == codes[:, j].tolist(), col
        elif uci.sdtypes("adult")[col] == "categorical":
            assert rows[col].tolist() == [uci.label(decoder["categories"][c]) for c in codes[:, j]]
    assert uci.label(1.0) == "1" and uci.label(True) == "True" and uci.label(" ?") == " ?"


def test_welch_matches_scipy_and_refuses_one_seed():
    from scipy import stats
    from tabular_table import welch

    a, b = [1.0, 1.2, 0.9, 1.1, 1.05], [0.8, 0.85, 0.95, 0.7, 0.9, 0.75]
    w, ref = welch(a, b), stats.ttest_ind(b, a, equal_var=False)
    assert w.p == pytest.approx(ref.pvalue) and w.diff == pytest.approx(np.mean(b) - np.mean(a))
    assert (w.low, w.high) == pytest.approx(tuple(ref.confidence_interval()))
    with pytest.raises(ValueError, match="two values"):
        welch([1.0], b)


def test_saved_states_are_scored_for_fidelity_and_tabulated(raw_root, tmp_path):
    pytest.importorskip("sdmetrics")
    out, states = tmp_path / "tab.json", tmp_path / "states"
    cmd = [sys.executable, "bench/tabular.py", "--preset", "tiny", "--tables", "shoppers", "--configs",
           "linear,learned", "--seeds", "0,1", "--jobs", "1", "--data", str(raw_root), "--out", str(out),
           "--states", str(states)]
    assert subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600).returncode == 0
    assert sorted(p.name for p in states.iterdir()) == [f"shoppers-{c}-{s}" for c in ("learned", "linear")
                                                        for s in (0, 1)]
    fid = subprocess.run([sys.executable, "bench/tabular_fidelity.py", str(out), "--states", str(states),
                          "--data", str(raw_root)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert fid.returncode == 0, fid.stderr
    records = json.loads((tmp_path / "tab-fidelity.json").read_text())
    assert len(records) == 5 and {r["config"] for r in records} == {"linear", "learned", "real-test"}
    for r in records:  # 12 test rows of random data against 12 train rows
        assert r["rows"] == 12 and all(0 <= r[m] <= 1 for m in ("shape", "trend", "c2st", "alpha", "beta")), r
    again = subprocess.run(fid.args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert "0 ceiling(s) and 0 run(s) to score" in again.stdout
    table = subprocess.run([sys.executable, "bench/tabular_table.py", str(out)], cwd=ROOT, capture_output=True,
                           text=True, timeout=300).stdout
    assert "| shoppers | linear (ours, 2 seeds) |" in table and "| shoppers | MDM(LS) (paper) | 0.9832 | 0.9710 |" in table
    assert "| shoppers | " in table.split("\n\n")[0] and "2 / 2 |" in table
