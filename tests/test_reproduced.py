"""Reproduced records -> catalogue rows and summaries, checked by hand on a small record (no torch)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from kdsurvey import catalogue, record, reproduced, tables
from kdsurvey.errors import CatalogueError, DataNotFoundError


def make_record(**changes) -> dict:
    rec = {
        "format": record.FORMAT,
        "run_id": "hinton_kd--fake--big--small",
        "method": "hinton_kd",
        "title": "Hinton KD (soft targets)",
        "knowledge": "response",
        "strategy": "offline",
        "reference": "hinton2015distilling",
        "dataset": "fake",
        "teacher": {"arch": "big", "parameters": 1000},
        "student": {"arch": "small", "parameters": 250},
        "seeds": [0, 1, 2],
        "accuracy": {"teacher": [90.0, 90.0, 90.0], "baseline": [80.0, 81.0, 82.0], "student": [81.0, 82.5, 84.0]},
        "epochs": 3,
        "recipe": {},
        "config_hash": "abc",
        "device": "cpu",
        "torch": "2.14.1",
        "wall_time_s": 1.5,
    }
    rec.update(changes)
    return rec


def test_row_values_by_hand():
    row = reproduced.rows([make_record()]).iloc[0]
    assert row["source"] == "reproduced" and row["row_id"] == "R-hinton_kd" and row["table"] == 0
    assert row["size_reduction_pct"] == pytest.approx(75.0)
    # mean of 1 - s/t over seeds: (10 + 8.333... + 6.666...) / 3 %
    assert row["accuracy_reduction_pct"] == pytest.approx(100 * (1 - 82.5 / 90))
    assert row["baseline_improvement_pct"] == pytest.approx(100 * (81 / 80 + 82.5 / 81 + 84 / 82 - 3) / 3)
    assert row["accuracy_reduction_printed"] == "8.333%" and row["size_reduction_printed"] == "75.000%"


def test_student_beating_its_teacher_prints_increase():
    rec = make_record(
        accuracy={"teacher": [80.0, 80.0], "baseline": [79.0, 79.0], "student": [81.0, 82.0]}, seeds=[0, 1]
    )
    row = reproduced.rows([rec]).iloc[0]
    assert row["accuracy_reduction_pct"] < 0 and row["accuracy_reduction_printed"].endswith("(increase)")


def test_summary_interval_and_welch():
    s = reproduced.summary([make_record()]).iloc[0]
    assert s["student_mean"] == pytest.approx(82.5) and s["student_std"] == pytest.approx(1.5)
    assert s["gain"] == pytest.approx(1.5)
    assert s["gain_low"] < 1.5 < s["gain_high"] and 0 < s["p_value"] < 1


def test_single_seed_has_no_interval():
    rec = make_record(seeds=[0], accuracy={"teacher": [90.0], "baseline": [80.0], "student": [81.0]})
    s = reproduced.summary([rec]).iloc[0]
    assert s["gain"] == pytest.approx(1.0) and math.isnan(s["p_value"]) and math.isnan(s["student_low"])


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"format": "other/1"}, "format is"),
        ({"strategy": "sideways"}, "strategy"),
        ({"teacher": {"arch": "big", "parameters": -5}}, "teacher.parameters must be a positive integer"),
        ({"accuracy": {"teacher": [90.0], "baseline": [80.0, 1, 2], "student": [1, 2, 3]}}, "one value per seed"),
        ({"accuracy": {"teacher": [190.0, 1, 2], "baseline": [80.0, 1, 2], "student": [1, 2, 3]}}, "not a percentage"),
        ({"epochs": "three"}, "field 'epochs' has the wrong type"),
    ],
)
def test_bad_records_name_the_problem(changes, message):
    with pytest.raises(CatalogueError, match=message):
        record.validate(make_record(**changes), "r.json")


def test_missing_field_is_named():
    rec = make_record()
    del rec["seeds"]
    with pytest.raises(CatalogueError, match="misses the field 'seeds'"):
        record.validate(rec, "r.json")


def test_folder_records_join_the_catalogue(data_copy):
    folder = data_copy / "reproduced"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    (folder / "a.json").write_text(json.dumps(make_record()), encoding="utf-8")
    frame = catalogue.results(data_copy)
    assert len(frame) == 28 and list(frame["source"]).count("reproduced") == 1
    assert set(catalogue.results(data_copy, "reproduced")["row_id"]) == {"R-hinton_kd"}
    metric = tables.get("metric", data=data_copy).frame
    assert "R-hinton_kd" in set(metric["Row"])
    table = tables.get("reproduced", data=data_copy).frame
    assert table.loc[0, "Student (%)"].startswith("82.50 ± ")


def test_broken_record_file_is_a_catalogue_error(data_copy):
    folder = data_copy / "reproduced"
    folder.mkdir(exist_ok=True)
    (folder / "zz.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogueError, match="zz.json.*not a valid JSON"):
        catalogue.results(data_copy)


def test_packaged_records_are_valid_and_cover_the_suite(packaged_data):
    """data/reproduced/ holds one record per method of the default suite, each over its seeds."""
    import yaml

    suite = yaml.safe_load((Path(__file__).resolve().parents[1] / "reproductions" / "suite.yaml").read_text())
    records = [r for r in record.load(packaged_data) if r["dataset"] == suite["dataset"]]
    assert sorted(rec["method"] for rec in records) == sorted(suite["methods"])
    for rec in records:
        assert rec["seeds"] == suite["seeds"] and rec["origin"] == "data"
        assert rec["device"] == "cpu" and rec["git_commit"]


def test_records_of_a_users_runs_join_with_their_origin(packaged_data, tmp_path):
    shipped = record.load(packaged_data)
    one = next(r for r in shipped if r["method"] == "hinton_kd")
    run = tmp_path / "runs" / "trial"
    (run / "stages").mkdir(parents=True)
    (run / "stages" / "x-ce-seed0-abc.json").write_text('{"stage": {}, "key": "abc"}', encoding="utf-8")  # not a record
    mine = {k: v for k, v in one.items() if k != "origin"} | {"config_hash": "feedc0de12345678"}
    record.write(mine, run)
    records = record.load(packaged_data, [tmp_path / "runs"])
    assert len(records) == len(shipped) + 1 and records[-1]["origin"] == str(run)
    frame = reproduced.rows(records)
    hinton = frame[frame["method"] == "hinton_kd"]
    assert list(hinton["row_id"]) == ["R-hinton_kd", "R-hinton_kd-2", "R-hinton_kd-3"]  # suite, MNIST, the user's
    assert list(hinton["run"]) == ["shipped", "shipped", f"{run}, config feedc0de"]
    assert "origin" not in json.loads((run / f"{one['run_id']}.json").read_text())  # origin is never written


@pytest.mark.parametrize("layout, message", [(None, "does not exist"), ("empty", "holds no result record")])
def test_a_runs_folder_without_records_is_an_error(packaged_data, tmp_path, layout, message):
    folder = tmp_path / "runs"
    if layout == "empty":
        (folder / "stages").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match=message):
        record.load(packaged_data, [folder])
