"""Output folders are replaced whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdsurvey.errors import OutputError
from kdsurvey.outputs import MARKER, staged_folder


def test_new_folder_appears_only_when_complete(tmp_path):
    target = tmp_path / "out"
    with staged_folder(target) as folder:
        (folder / "a.txt").write_text("a")
        assert not target.exists()
    assert (target / "a.txt").read_text() == "a" and (target / MARKER).exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_previous_output_is_replaced_whole(tmp_path):
    target = tmp_path / "out"
    with staged_folder(target) as folder:
        (folder / "old.txt").write_text("old")
    with staged_folder(target) as folder:
        (folder / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_error_inside_leaves_previous_output(tmp_path):
    target = tmp_path / "out"
    with staged_folder(target) as folder:
        (folder / "old.txt").write_text("old")
    with pytest.raises(RuntimeError), staged_folder(target) as folder:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("build failed")
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_failed_swap_puts_previous_output_back(tmp_path, monkeypatch):
    target = tmp_path / "out"
    with staged_folder(target) as folder:
        (folder / "old.txt").write_text("old")
    real_rename = Path.rename

    def rename(self, dest):
        if ".staging-" in self.name:
            raise OSError("disk full")
        return real_rename(self, dest)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk full"), staged_folder(target) as folder:
        (folder / "new.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == [MARKER, "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_foreign_folder_and_file_are_refused(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(OutputError, match="not written by kdsurvey"), staged_folder(foreign):
        pass
    assert (foreign / "thesis.tex").read_text() == "precious"
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(OutputError, match="is not a folder"), staged_folder(a_file):
        pass
