"""Every published protocol in reproductions/papers/ is a valid plan: it dry-runs without training anything."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kdsurvey import benchmarks, cli

PAPERS = sorted((Path(__file__).resolve().parents[2] / "reproductions" / "papers").glob("*.yaml"))


def test_there_are_paper_protocols():
    assert {p.stem for p in PAPERS} >= {"hinton2015_mnist", "crd2020_cifar100"}


@pytest.mark.parametrize("path", PAPERS, ids=[p.stem for p in PAPERS])
def test_each_protocol_dry_runs_without_training(tmp_path, capsys, path):
    values = yaml.safe_load(path.read_text(encoding="utf-8"))
    command = ["sweep", str(path)] if "methods" in values else ["reproduce", "--config", str(path)]
    rc = cli.main([*command, "--dry-run", "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert (rc, err) == (0, ""), err
    assert "(0 done, 0 to resume" in out and "records (written once their stages are stored)" in out
    assert not (tmp_path / "out").exists()  # a plan, nothing trained or written


def test_the_protocols_cover_the_published_pairs():
    """Each published (data set, teacher, student, method) row of a source has an experiment in its protocol,
    except architectures kdsurvey does not have (VGG)."""
    from kdsurvey.distill import models, sweep

    crd = sweep.load(next(p for p in PAPERS if p.stem == "crd2020_cifar100"))
    planned = {(e.dataset, e.teacher, e.student, e.method) for e in crd.experiments}
    published = benchmarks.load()
    crd_rows = published["reference"] == "tian2020contrastive"
    rows = published[crd_rows & ~published["method"].isin(["teacher", "baseline"])]
    wanted = {(r.dataset, r.teacher_arch, r.student_arch, r.method) for r in rows.itertuples()
              if r.teacher_arch in models.names() and r.student_arch in models.names()}  # fmt: skip
    assert wanted and wanted <= planned


def test_the_hinton_protocol_is_the_papers_setting():
    from kdsurvey.distill import config

    path = next(p for p in PAPERS if p.stem == "hinton2015_mnist")
    e = config.experiment(config.load(path), str(path))
    assert (e.dataset, e.teacher, e.student, e.method) == ("mnist", "mlp_1200_1200", "mlp_800_800", "hinton_kd")
    assert e.options["temperature"] == 20 and len(e.seeds) >= 3
    assert e.teacher_recipe.augment and not e.recipe.augment  # jittered teacher; transfer set without translations
    assert e.recipe.weight_decay == 0  # the small net is not regularised
