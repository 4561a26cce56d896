"""The CSV series source, on small files written here: clean, with gaps, bad, unsorted."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from lstm_lab.config import ConfigError, validate
from lstm_lab.data.csv_file import SeriesFileError, csv_series, read_csv, resolve, time_axis
from lstm_lab.data.windows import make_splits


def write(tmp_path, text: str, name: str = "series.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


CLEAN = """date,load,temp,humidity
2024-01-01,10,1.5,80
2024-01-02,11,2.5,81
2024-01-03,12,3.5,82
2024-01-04,13,4.5,83
"""


def test_clean_file_target_first_then_features_with_dates(tmp_path):
    path = write(tmp_path, CLEAN)
    table = read_csv(path, "load", ["humidity", "temp"], time="date")
    assert table.columns == ("load", "humidity", "temp")
    assert table.values.dtype == np.float32 and table.values.shape == (4, 3)
    np.testing.assert_array_equal(table.values[:, 0], [10, 11, 12, 13])
    np.testing.assert_array_equal(table.values[:, 1], [80, 81, 82, 83])
    np.testing.assert_array_equal(table.values[:, 2], [1.5, 2.5, 3.5, 4.5])
    assert table.time[0] == np.datetime64("2024-01-01") and table.time[-1] == np.datetime64(
        "2024-01-04"
    )
    # The target alone is one column; listing it among the features does not repeat it.
    assert csv_series(str(path), "load").shape == (4, 1)
    assert read_csv(path, "load", ["load", "temp"]).columns == ("load", "temp")


def test_numeric_time_blank_lines_and_quoted_fields(tmp_path):
    path = write(tmp_path, 't,"y"\n\n0.5,"1"\n1.5, 2 \n\n2.5,3\n')
    table = read_csv(path, "y", time="t")
    np.testing.assert_array_equal(table.time, [0.5, 1.5, 2.5])
    np.testing.assert_array_equal(table.values[:, 0], [1, 2, 3])


def test_sub_second_time_stamps_keep_their_order(tmp_path):
    # Cut to whole seconds, these two were one time and the file was refused as unsorted.
    path = write(tmp_path, "t,y\n2024-01-01T00:00:00.100,1\n2024-01-01T00:00:00.200,2\n")
    table = read_csv(path, "y", time="t")
    assert table.time[1] - table.time[0] == np.timedelta64(100, "ms")


def test_time_zones_are_read_as_utc_without_a_warning_per_cell(tmp_path):
    # numpy warned on every cell (twice per run: two lines each on stderr)
    path = write(tmp_path, "t,y\n2024-01-01T00:00Z,1\n2024-01-01T03:00+02:00,2\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = read_csv(path, "y", time="t")
    assert table.time[1] - table.time[0] == np.timedelta64(1, "h")


GAPS = """t,y,x
0,0,10
1,,11
2,20,NA
4,40,14
6,,n/a
8,80,18
"""


def test_gaps_fail_by_default_naming_file_column_and_line(tmp_path):
    path = write(tmp_path, GAPS)
    with pytest.raises(SeriesFileError) as info:
        read_csv(path, "y", ["x"], time="t")
    assert info.value.key == "target"
    assert info.value.message.startswith(f"{path}: column 'y', line 3 is missing a value")
    assert str(info.value) == f"target: {info.value.message}"  # key: message, as every setting


def test_gaps_dropped(tmp_path):
    table = read_csv(write(tmp_path, GAPS), "y", ["x"], time="t", missing="drop")
    np.testing.assert_array_equal(table.time, [0, 4, 8])
    np.testing.assert_array_equal(table.values, [[0, 10], [40, 14], [80, 18]])


def test_gaps_interpolated_linearly_in_time(tmp_path):
    path = write(tmp_path, GAPS)
    table = read_csv(path, "y", ["x"], time="t", missing="interpolate")
    np.testing.assert_array_equal(table.time, [0, 1, 2, 4, 6, 8])
    # y is 10 t: the gaps at t = 1 and t = 6 are filled on that line.
    np.testing.assert_allclose(table.values[:, 0], [0, 10, 20, 40, 60, 80])
    # x at t = 2 lies between 11 (t = 1) and 14 (t = 4); at t = 6, between 14 and 18.
    np.testing.assert_allclose(table.values[:, 1], [10, 11, 12, 14, 16, 18])
    # Without a time column the row number is the clock.
    by_row = read_csv(path, "y", missing="interpolate").values[:, 0]
    np.testing.assert_allclose(by_row, [0, 10, 20, 40, 60, 80])
    # A gap at the end takes the nearest value.
    edge = write(tmp_path, "y\n1\n2\n\n", name="edge.csv")
    assert read_csv(edge, "y").values.shape == (2, 1)  # a blank last line is no row
    edge = write(tmp_path, "y,x\n1,5\n2,\n", name="edge2.csv")
    np.testing.assert_allclose(read_csv(edge, "y", ["x"], missing="interpolate").values[:, 1], 5)


def test_missing_time_cells_only_drop_skips_them(tmp_path):
    path = write(tmp_path, "t,y\n1,1\n,2\n3,3\n")
    with pytest.raises(SeriesFileError, match=r"line 3 has no time") as info:
        read_csv(path, "y", time="t", missing="interpolate")
    assert info.value.key == "time"
    np.testing.assert_array_equal(read_csv(path, "y", time="t", missing="drop").time, [1, 3])


BAD = [
    ("t,y\n1,1\n2,abc\n", {"target": "y"}, "target", "column 'y', line 3: 'abc' is not a number"),
    ("t,y,x\n1,1,inf\n", {"target": "y", "features": ["x"]}, "features", "'inf' is not a number"),
    # beyond float32 (1e39 was cast to inf) or too large for its squares (1e20 trained into NaN)
    ("y\n1\n1e39\n", {"target": "y"}, "target", "line 3: '1e39' is too large"),
    ("y,x\n1,-2e20\n", {"target": "y", "features": ["x"]}, "features", "'-2e20' is too large"),
    ("t,y\n1,1\n3,2\n2,3\n", {"target": "y", "time": "t"}, "time", "line 4 (2) does not come"),
    ("t,y\n1,1\n1,2\n", {"target": "y", "time": "t"}, "time", "not in increasing order"),
    (
        "d,y\n2024-01-02,1\n2024-01-01,2\n",
        {"target": "y", "time": "d"},
        "time",
        "line 3 (2024-01-01) does not come after line 2 (2024-01-02)",
    ),
    ("d,y\nmonday,1\n", {"target": "y", "time": "d"}, "time", "'monday' is neither a number"),
    # numpy reads a number among dates as a year (1 -> 0001)
    (
        "d,y\n1,1\n2024-01-01,2\n",
        {"target": "y", "time": "d"},
        "time",
        "column 'd' mixes numbers and dates: line 2 has the number '1', line 3 the date "
        "'2024-01-01'",
    ),
    ("t,y\ninf,1\ninf,2\n", {"target": "y", "time": "t"}, "time", "'inf' is not a finite time"),
    ("t,y\n1,1\n", {"target": "z"}, "target", "no column 'z' (columns: t, y)"),
    # another separator: the header is one column, and the message says why
    (
        "t;y\n1;1\n",
        {"target": "y"},
        "target",
        "(columns: t;y); lstm-lab reads columns separated by commas, and this header has ';'",
    ),
    ("t\ty\n1\t1\n", {"target": "y"}, "target", "separated by commas, and this header has '\\t'"),
    ("t,y\n1,1\n", {"target": "y", "features": ["w"]}, "features", "no column 'w'"),
    ("t,y\n1,1\n", {"target": "y", "time": "when"}, "time", "no column 'when'"),
    # a column named twice: the first was read, whichever the user meant
    ("y,y\n1,5\n", {"target": "y"}, "target", "the header has 2 columns named 'y'"),
    ("y,x,x\n1,2,3\n", {"target": "y", "features": ["x"]}, "features", "2 columns named 'x'"),
    ("t,y,t\n1,2,3\n", {"target": "y", "time": "t"}, "time", "2 columns named 't'"),
    ("t,y\n1,1\n2\n", {"target": "y"}, "path", "line 3 has 1 fields, the header has 2"),
    ("t,y\n", {"target": "y"}, "path", "no data rows below the header"),
    ("", {"target": "y"}, "path", "empty file"),
    ("y\nNA\n", {"target": "y", "missing": "drop"}, "missing", "no rows left"),
    ("y\nNA\n", {"target": "y", "missing": "interpolate"}, "target", "no values to interpolate"),
]


@pytest.mark.parametrize("text,kwargs,key,message", BAD)
def test_bad_files_are_one_line_naming_the_argument_file_and_column(
    tmp_path, text, kwargs, key, message
):
    path = write(tmp_path, text)
    with pytest.raises(SeriesFileError) as info:
        read_csv(path, **kwargs)
    assert info.value.key == key
    assert info.value.message.startswith(f"{path}: ") and message in info.value.message
    assert "\n" not in str(info.value)


def test_columns_named_twice_are_refused_before_reading(tmp_path):
    path = write(tmp_path, "t,y\n1,1\n")
    with pytest.raises(SeriesFileError, match="'y' is also a value column") as info:
        read_csv(path, "y", time="y")
    assert info.value.key == "time"
    with pytest.raises(SeriesFileError, match="'t' more than once") as info:
        read_csv(path, "y", ["t", "t"])
    assert info.value.key == "features"


def test_missing_file(tmp_path):
    with pytest.raises(SeriesFileError, match=r"^path: nope\.csv: no such file$") as info:
        read_csv("nope.csv", "y")
    assert info.value.key == "path"


def test_relative_paths_fall_back_to_the_checkout(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve("data/elnino/elnino.csv").is_file()  # the bundled file, found from elsewhere
    (tmp_path / "data" / "elnino").mkdir(parents=True)
    write(tmp_path / "data" / "elnino", "y\n1\n", name="elnino.csv")
    assert resolve("data/elnino/elnino.csv") == Path("data/elnino/elnino.csv")  # the cwd's first


def test_time_axis_only_for_csv_series_with_a_time_column(tmp_path):
    path = str(write(tmp_path, CLEAN))
    node = {"_target_": "lstm_lab.data.csv_file.csv_series", "path": path, "target": "load"}
    assert time_axis(node) is None
    assert len(time_axis({**node, "time": "date"})) == 4
    assert time_axis({"_target_": "lstm_lab.data.series.sine_series", "n_points": 5}) is None


def test_features_are_scaled_per_column_on_train_rows_only(tmp_path):
    t = np.arange(40)
    lines = "\n".join(f"{i},{i},{1000 + 10 * i}" for i in t)
    values = csv_series(str(write(tmp_path, "t,y,x\n" + lines + "\n")), "y", ["x"], time="t")
    splits, scaler = make_splits(values, window=4, horizon=2, train=0.5, val=0.25)
    np.testing.assert_allclose(scaler.mean, [9.5, 1095])  # rows 0..19 only
    x, y = splits["train"]
    assert x.shape[2] == 2 and y.shape[1] == 2


@pytest.mark.parametrize(
    "override,key",
    [
        ("data.series.missing=sometimes", "data.series.missing"),
        ("data.series.features=temp", "data.series.features"),
        ("data.series.features=[1,2]", "data.series.features"),
        ("data.series.target=3", "data.series.target"),
        ("+data.series.n_points=5", "data.series.n_points"),
    ],
)
def test_csv_config_values_are_checked_before_reading(compose_train, override, key):
    cfg = compose_train("data=csv", "data.series.path=x.csv", "data.series.target=y", override)
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert info.value.key == key
