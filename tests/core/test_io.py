"""Output-folder safety, atomic writes and identifier sanitising."""

import re

import pytest

from hwq.io import OutputExistsError, atomic_write, prepare_out_dir, sanitize_identifier, unique_identifiers

IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def test_prepare_out_dir_refuses_non_empty_without_force(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(OutputExistsError, match="--force"):
        prepare_out_dir(tmp_path)
    assert (tmp_path / "keep.txt").read_text() == "user data"
    assert prepare_out_dir(tmp_path, force=True) == tmp_path


def test_prepare_out_dir_creates_and_accepts_empty(tmp_path):
    d = tmp_path / "a" / "b"
    prepare_out_dir(d)
    assert d.is_dir()
    prepare_out_dir(d)  # empty: fine


def test_prepare_out_dir_refuses_a_file(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(OutputExistsError, match="not a folder"):
        prepare_out_dir(f, force=True)


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "out.txt"
    atomic_write(p, "first version, long text")
    atomic_write(p, b"second")
    assert p.read_bytes() == b"second"
    assert [x.name for x in tmp_path.iterdir()] == ["out.txt"]


@pytest.mark.parametrize(
    "name",
    ["1x-y.z", "int", "module", "fc.0.weight", "", "__init", "名前", "a b\tc", "x" * 3, "wire", "0"],
)
def test_sanitize_identifier_gives_valid_non_reserved_identifiers(name):
    s = sanitize_identifier(name)
    assert IDENT.match(s), s
    assert s not in {"int", "module", "wire", "for"}
    assert not s.startswith("__")
    assert sanitize_identifier(name) == s  # stable


def test_unique_identifiers_keeps_distinct_names_distinct():
    names = ["a.b", "a-b", "a_b", "a b", "int", "int_"]
    out = unique_identifiers(names)
    assert len(set(out.values())) == len(names)
    assert all(IDENT.match(v) for v in out.values())
