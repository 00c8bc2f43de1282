"""Unit tests (no rustc, no sandbox) for reading inputs: jsonl.py, samples.py, problems.py, inputs.py."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
from pathlib import Path
from typing import Optional

import pytest

from pytest_heval.errors import InputError
from pytest_heval.inputs import Inputs, check_files_exist, samples_paths
from pytest_heval.inputs.jsonl import is_jsonl_path, iter_jsonl, read_bytes
from pytest_heval.inputs.problems import DEFAULT_EDITION, load_problems, problem_from_row, row_format
from pytest_heval.inputs.samples import load_samples

from tests.helpers import ADD_MAIN_PROBLEM, ADD_PROBLEM, write_jsonl

HUMANEVAL = "humaneval-rust-164.jsonl"
SIGIL = "humaneval-rust-sigil-180.jsonl"
HUMANEVALX = "humaneval-x-rust.jsonl.gz"
PACK = "humanevalpack-rust.jsonl"
MULTIPLE = "multipl-e-humaneval-rs-keep.json"

GOOD = {"task_id": "Add/0", "completion": "    a + b\n}\n"}


def check_error(exc: InputError, path, line: Optional[int], field: Optional[str]) -> None:
    """The error names the file, the line and the field, as attributes and in its message."""
    assert exc.path == str(path)
    assert exc.line == line
    assert exc.field == field
    where = str(path) + (f":{line}" if line is not None else "") + (f": field '{field}'" if field is not None else "")
    assert str(exc) == f"{where}: {exc.message}"
    assert exc.message


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- jsonl.py


def test_iter_jsonl_line_numbers_skip_blank_lines(tmp_path):
    p = write_bytes(tmp_path / "a.jsonl", b'\n{"a": 1}\n   \n\n{"a": 2}\n\n')
    assert list(iter_jsonl(str(p))) == [(2, {"a": 1}), (5, {"a": 2})]


def test_iter_jsonl_crlf_and_bom(tmp_path):
    p = write_bytes(tmp_path / "a.jsonl", b'\xef\xbb\xbf{"a": 1}\r\n\r\n{"a": "x\\r"}\r\n')
    assert list(iter_jsonl(str(p))) == [(1, {"a": 1}), (3, {"a": "x\r"})]


def test_iter_jsonl_no_trailing_newline(tmp_path):
    p = write_bytes(tmp_path / "a.jsonl", b'{"a": 1}\n{"a": 2}')
    assert [v for _, v in iter_jsonl(str(p))] == [{"a": 1}, {"a": 2}]


def test_iter_jsonl_malformed_names_line(tmp_path):
    p = write_bytes(tmp_path / "a.jsonl", b'{"a": 1}\n\n{"a": 2,}\n{"a": 3}\n')
    it = iter_jsonl(str(p))
    assert next(it) == (1, {"a": 1})
    with pytest.raises(InputError) as ei:
        next(it)
    check_error(ei.value, p, 3, None)
    assert "malformed JSON" in ei.value.message


def test_iter_jsonl_invalid_utf8_is_malformed(tmp_path):
    p = write_bytes(tmp_path / "a.jsonl", b'{"a": "\xff\xfe"}\n')
    with pytest.raises(InputError) as ei:
        list(iter_jsonl(str(p)))
    check_error(ei.value, p, 1, None)


def test_read_bytes_gzip_by_magic_not_name(tmp_path):
    payload = b'{"a": 1}\n'
    gz = write_bytes(tmp_path / "plain-name.jsonl", gzip.compress(payload))
    assert read_bytes(str(gz)) == payload
    plain = write_bytes(tmp_path / "looks.jsonl.gz", payload)
    assert read_bytes(str(plain)) == payload


def test_read_bytes_gzip_with_bom(tmp_path):
    gz = write_bytes(tmp_path / "a.jsonl.gz", gzip.compress(b'\xef\xbb\xbf{"a": 1}\n'))
    assert read_bytes(str(gz)) == b'{"a": 1}\n'


def test_read_bytes_missing_file(tmp_path):
    p = tmp_path / "nope.jsonl"
    with pytest.raises(InputError) as ei:
        read_bytes(str(p))
    check_error(ei.value, p, None, None)
    assert "cannot read" in ei.value.message


def test_is_jsonl_path():
    assert is_jsonl_path("x.jsonl")
    assert is_jsonl_path(Path("d/x.jsonl.gz"))
    assert not is_jsonl_path("x.json")
    assert not is_jsonl_path("x.jsonl.bz2")
    assert not is_jsonl_path("x.gz")


# ---------------------------------------------------------------- samples.py


def test_load_samples_ok(tmp_path):
    rows = [dict(GOOD, extra=[1, 2]), {"task_id": "Add/0", "completion": ""}, {"task_id": "Other/1", "completion": "x"}]
    p = write_jsonl(tmp_path / "s.jsonl", rows)
    ss = load_samples(str(p))
    assert [(s.index, s.line, s.task_id) for s in ss] == [(0, 1, "Add/0"), (1, 2, "Add/0"), (2, 3, "Other/1")]
    assert ss[0].completion == GOOD["completion"]
    assert ss[0].row == rows[0]
    assert ss[2].name == "Other/1#2"
    assert all(s.path == str(p) for s in ss)


def test_load_samples_index_ignores_blank_lines_line_does_not(tmp_path):
    line = json.dumps(GOOD).encode()
    p = write_bytes(tmp_path / "s.jsonl", b"\r\n" + line + b"\r\n\r\n  \r\n" + line + b"\r\n")
    ss = load_samples(str(p))
    assert [(s.index, s.line) for s in ss] == [(0, 2), (1, 5)]
    assert ss[1].completion == GOOD["completion"]  # CR dropped, not glued to the value


def test_load_samples_bom(tmp_path):
    p = write_bytes(tmp_path / "s.jsonl", b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    assert load_samples(str(p))[0].task_id == "Add/0"


def test_load_samples_gzip(tmp_path):
    p = write_bytes(tmp_path / "s.jsonl.gz", gzip.compress((json.dumps(GOOD) + "\n").encode() * 3))
    assert len(load_samples(str(p))) == 3


def _gzip_cli(src: Path) -> bytes:
    return subprocess.run(["gzip", "-c", str(src)], check=True, stdout=subprocess.PIPE).stdout


@pytest.mark.parametrize("cut", ["half", "trailer", "header"])
def test_load_samples_truncated_gzip(tmp_path, cut):
    src = write_jsonl(tmp_path / "src.jsonl", [dict(GOOD, completion=f"x{i}" * 20) for i in range(200)])
    data = _gzip_cli(src)
    assert data[:2] == b"\x1f\x8b"
    cut_at = {"half": len(data) // 2, "trailer": len(data) - 4, "header": 12}[cut]
    p = write_bytes(tmp_path / "s.jsonl.gz", data[:cut_at])
    with pytest.raises(InputError) as ei:
        load_samples(str(p))
    check_error(ei.value, p, None, None)
    assert "gzip" in ei.value.message and "truncated" in ei.value.message


def test_load_samples_gzip_cli_whole_file_loads(tmp_path):
    src = write_jsonl(tmp_path / "src.jsonl", [GOOD] * 5)
    p = write_bytes(tmp_path / "s.jsonl.gz", _gzip_cli(src))
    assert len(load_samples(str(p))) == 5


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n", b"\xef\xbb\xbf", gzip.compress(b"", mtime=0)],
                         ids=["empty", "blank-lines", "bom-only", "empty-gzip"])
def test_load_samples_empty(tmp_path, content):
    p = write_bytes(tmp_path / "s.jsonl", content)
    with pytest.raises(InputError) as ei:
        load_samples(str(p))
    check_error(ei.value, p, None, None)
    assert "empty" in ei.value.message


def test_load_samples_malformed_json(tmp_path):
    p = write_bytes(tmp_path / "s.jsonl", (json.dumps(GOOD) + "\n" + '{"task_id": "A", "completion": \n').encode())
    with pytest.raises(InputError) as ei:
        load_samples(str(p))
    check_error(ei.value, p, 2, None)
    assert "malformed JSON" in ei.value.message


@pytest.mark.parametrize("field", ["task_id", "completion"])
def test_load_samples_missing_field(tmp_path, field):
    bad = {k: v for k, v in GOOD.items() if k != field}
    p = write_jsonl(tmp_path / "s.jsonl", [GOOD, GOOD, bad])
    with pytest.raises(InputError) as ei:
        load_samples(str(p))
    check_error(ei.value, p, 3, field)
    assert "missing" in ei.value.message


@pytest.mark.parametrize(
    "field,value,tname",
    [("task_id", 0, "int"), ("task_id", None, "NoneType"), ("completion", ["a"], "list"),
     ("completion", {"x": 1}, "dict"), ("completion", True, "bool"), ("prompt", 3, "int"), ("test", None, "NoneType")],
)
def test_load_samples_wrong_type(tmp_path, field, value, tname):
    p = write_jsonl(tmp_path / "s.jsonl", [GOOD, dict(GOOD, **{field: value})])
    with pytest.raises(InputError) as ei:
        load_samples(str(p))
    check_error(ei.value, p, 2, field)
    assert "must be a string" in ei.value.message and tname in ei.value.message


def test_load_samples_empty_task_id(tmp_path):
    p = write_jsonl(tmp_path / "s.jsonl", [dict(GOOD, task_id="")])
    with pytest.raises(InputError) as ei:
        load_samples(str(p))
    check_error(ei.value, p, 1, "task_id")


@pytest.mark.parametrize("row", [[1, 2], "text", 3, None])
def test_load_samples_row_not_object(tmp_path, row):
    p = write_bytes(tmp_path / "s.jsonl", (json.dumps(GOOD) + "\n\n" + json.dumps(row) + "\n").encode())
    with pytest.raises(InputError) as ei:
        load_samples(str(p))
    check_error(ei.value, p, 3, None)
    assert "JSON object" in ei.value.message


# ---------------------------------------------------------------- problems.py: the real public datasets


@pytest.fixture(scope="module")
def real(datasets):
    return {name: load_problems([str(datasets / name)]) for name in (HUMANEVAL, SIGIL, HUMANEVALX, PACK, MULTIPLE)}


@pytest.mark.parametrize(
    "name,count,fmt,edition,id_re",
    [
        (HUMANEVAL, 164, "humaneval", "2021", r"HumanEval/\d+"),
        (SIGIL, 180, "humaneval", "2024", r"(CodeGen|Transform|Fix|Explain)/[0-9a-f]{12}"),
        (HUMANEVALX, 164, "humanevalx", "2021", r"Rust/\d+"),
        (PACK, 164, "humanevalx", "2021", r"Rust/\d+"),
        (MULTIPLE, 156, "multipl-e", "2015", r"HumanEval_\d+_\w+"),
    ],
)
def test_real_dataset_detection(real, datasets, name, count, fmt, edition, id_re):
    probs = real[name]
    assert len(probs) == count
    assert {p.fmt for p in probs.values()} == {fmt}
    assert {p.edition for p in probs.values()} == {edition}
    for tid, p in probs.items():
        assert p.task_id == tid
        assert re.fullmatch(id_re, tid), tid
        assert p.source.startswith(str(datasets / name) + ":")
        assert p.test


def test_real_dataset_ids(real):
    assert sorted(int(t.split("/")[1]) for t in real[HUMANEVAL]) == list(range(164))
    assert sorted(int(t.split("/")[1]) for t in real[HUMANEVALX]) == list(range(164))
    assert set(real[HUMANEVALX]) == set(real[PACK])
    assert "HumanEval_56_correct_bracketing" in real[MULTIPLE]
    assert real[HUMANEVAL]["HumanEval/0"].source.endswith(":1")
    assert real[HUMANEVAL]["HumanEval/163"].source.endswith(":164")
    # a JSON list has no lines: the 1-based element number is given instead
    assert real[MULTIPLE]["HumanEval_56_correct_bracketing"].source.endswith(":1")


def test_real_dataset_styles(real):
    for name in (HUMANEVAL, HUMANEVALX, PACK):
        assert {p.style for p in real[name].values()} == {"libtest"}, name
    assert {p.style for p in real[MULTIPLE].values()} == {"main"}
    for p in real[MULTIPLE].values():
        assert "fn main()" in p.test
    # sigil: libtest exactly where the test text holds a #[test] function
    styles = {p.style for p in real[SIGIL].values()}
    assert "libtest" in styles
    for p in real[SIGIL].values():
        assert (p.style == "libtest") == ("#[test]" in p.test), p.task_id


def test_real_humanevalx_head_is_declaration(real, datasets):
    with gzip.open(datasets / HUMANEVALX, "rt", encoding="utf-8") as f:
        first = json.loads(f.readline())
    p = real[HUMANEVALX][first["task_id"]]
    assert p.head == first["declaration"] and p.head != first["prompt"]
    assert p.test == first["test"]


def test_real_multiple_head_and_tests(real, datasets):
    rows = json.loads((datasets / MULTIPLE).read_text(encoding="utf-8"))
    p = real[MULTIPLE][rows[3]["name"]]
    assert (p.head, p.test) == (rows[3]["prompt"], rows[3]["tests"])
    assert p.source.endswith(":4")


def test_real_humanevalx_and_pack_conflict(datasets):
    """Both define Rust/N, differently for some N: the clash is an error, not a silent overwrite."""
    x, pack = datasets / HUMANEVALX, datasets / PACK
    with pytest.raises(InputError) as ei:
        load_problems([str(x), str(pack)])
    e = ei.value
    assert e.path == str(pack) and e.field == "task_id" and isinstance(e.line, int) and e.line >= 1
    assert f"{x}:{e.line}" in e.message  # the earlier definition is named
    assert f"{pack}:{e.line}: field 'task_id'" in str(e)


def test_real_all_compatible_files_together(datasets, real):
    probs = load_problems([str(datasets / n) for n in (HUMANEVAL, SIGIL, HUMANEVALX, MULTIPLE)])
    assert len(probs) == 164 + 180 + 164 + 156
    assert probs["HumanEval/0"].fmt == "humaneval" and probs["Rust/0"].fmt == "humanevalx"


def test_same_file_twice_is_fine(datasets):
    p = str(datasets / HUMANEVAL)
    assert len(load_problems([p, p])) == 164


# ---------------------------------------------------------------- problems.py: synthetic files


def test_row_format():
    assert row_format({"task_id": "a", "prompt": "", "test": ""}) == "humaneval"
    assert row_format({"task_id": "a", "prompt": "", "declaration": "", "test": ""}) == "humanevalx"
    assert row_format({"name": "a", "prompt": "", "tests": ""}) == "multipl-e"
    assert row_format({"task_id": "a", "prompt": "", "tests": ""}) == "multipl-e"
    assert row_format({"task_id": "a", "prompt": ""}) is None
    assert row_format({"question": "a", "answer": ""}) is None


def test_default_editions_table():
    assert DEFAULT_EDITION["humaneval"] == "2021"
    assert DEFAULT_EDITION["humanevalx"] == "2021"
    assert DEFAULT_EDITION["multipl-e"] == "2015"


def test_problem_file_in_no_known_format(tmp_path):
    p = write_jsonl(tmp_path / "p.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(InputError) as ei:
        load_problems([str(p)])
    check_error(ei.value, p, 1, None)
    assert "no known problem format" in ei.value.message and "question" in ei.value.message


def test_problem_file_unknown_row_after_good_rows(tmp_path):
    p = write_jsonl(tmp_path / "p.jsonl", [ADD_PROBLEM, dict(ADD_PROBLEM, task_id="Add/1"), {"foo": 1}])
    with pytest.raises(InputError) as ei:
        load_problems([str(p)])
    check_error(ei.value, p, 3, None)


def test_problem_json_list_multiple(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps([ADD_MAIN_PROBLEM, dict(ADD_MAIN_PROBLEM, name="AddMain_1")], indent=2))
    probs = load_problems([str(p)])
    assert set(probs) == {"AddMain_0", "AddMain_1"}
    a = probs["AddMain_0"]
    assert (a.fmt, a.edition, a.style, a.head, a.test) == (
        "multipl-e", "2015", "main", ADD_MAIN_PROBLEM["prompt"], ADD_MAIN_PROBLEM["tests"])
    assert probs["AddMain_1"].source == f"{p}:2"


def test_problem_json_list_bad_element_named_by_number(tmp_path):
    p = tmp_path / "p.json"
    p.write_text(json.dumps([ADD_MAIN_PROBLEM, dict(ADD_MAIN_PROBLEM, tests=5)]))
    with pytest.raises(InputError) as ei:
        load_problems([str(p)])
    check_error(ei.value, p, 2, "tests")


def test_problem_json_list_malformed(tmp_path):
    p = tmp_path / "p.json"
    p.write_text('[{"name": "a", "prompt": "", "tests": ""},\n')
    with pytest.raises(InputError) as ei:
        load_problems([str(p)])
    check_error(ei.value, p, None, None)
    assert "malformed JSON" in ei.value.message


@pytest.mark.parametrize("content", [b"", b"  \n\n", b"[]", b"[]\n"])
def test_problem_file_empty(tmp_path, content):
    p = write_bytes(tmp_path / "p.jsonl", content)
    with pytest.raises(InputError) as ei:
        load_problems([str(p)])
    check_error(ei.value, p, None, None)
    assert "empty" in ei.value.message


def test_problem_row_not_object(tmp_path):
    p = write_bytes(tmp_path / "p.jsonl", (json.dumps(ADD_PROBLEM) + "\n" + "[1]\n").encode())
    with pytest.raises(InputError) as ei:
        load_problems([str(p)])
    check_error(ei.value, p, 2, None)


@pytest.mark.parametrize(
    "row,field",
    [
        (dict(ADD_PROBLEM, test=1), "test"),
        (dict(ADD_PROBLEM, prompt=None), "prompt"),
        (dict(ADD_PROBLEM, task_id=7), "task_id"),
        (dict(ADD_PROBLEM, task_id=""), "task_id"),
        ({"task_id": "X/0", "declaration": 1, "test": ""}, "declaration"),
        (dict(ADD_MAIN_PROBLEM, name=3), "name"),
        (dict(ADD_MAIN_PROBLEM, prompt=[]), "prompt"),
        (dict(ADD_PROBLEM, edition="2019"), "edition"),
        (dict(ADD_PROBLEM, edition=True), "edition"),
    ],
)
def test_problem_bad_field(tmp_path, row, field):
    p = write_jsonl(tmp_path / "p.jsonl", [ADD_PROBLEM, row])
    with pytest.raises(InputError) as ei:
        load_problems([str(p)])
    check_error(ei.value, p, 2, field)


def test_problem_edition_override_and_int(tmp_path):
    rows = [dict(ADD_PROBLEM, task_id="A", edition="2018"), dict(ADD_PROBLEM, task_id="B", edition=2024),
            dict(ADD_PROBLEM, task_id="C", edition=""), dict(ADD_PROBLEM, task_id="D", edition=None)]
    probs = load_problems([str(write_jsonl(tmp_path / "p.jsonl", rows))])
    assert [probs[t].edition for t in "ABCD"] == ["2018", "2024", "2021", "2021"]


def test_problem_crlf_bom_gzip(tmp_path):
    raw = b"\xef\xbb\xbf" + b"\r\n".join(json.dumps(r).encode() for r in [ADD_PROBLEM, dict(ADD_PROBLEM, task_id="B")])
    p = write_bytes(tmp_path / "p.jsonl.gz", gzip.compress(raw + b"\r\n"))
    probs = load_problems([str(p)])
    assert set(probs) == {"Add/0", "B"}
    assert probs["B"].test == ADD_PROBLEM["test"]
    assert probs["B"].source == f"{p}:2"


def test_problem_duplicate_same_ok_different_error(tmp_path):
    same = write_jsonl(tmp_path / "same.jsonl", [ADD_PROBLEM, ADD_PROBLEM])
    assert list(load_problems([str(same)])) == ["Add/0"]
    diff = write_jsonl(tmp_path / "diff.jsonl", [ADD_PROBLEM, dict(ADD_PROBLEM, test="#[test] fn t() {}")])
    with pytest.raises(InputError) as ei:
        load_problems([str(diff)])
    check_error(ei.value, diff, 2, "task_id")
    assert f"{diff}:1" in ei.value.message


def test_problem_from_row_style():
    lib = problem_from_row("p", 1, ADD_PROBLEM)
    assert lib.style == "libtest" and lib.fmt == "humaneval" and lib.head == ADD_PROBLEM["prompt"]
    spaced = problem_from_row("p", 1, dict(ADD_PROBLEM, test="mod t { # [ test ]\nfn x() {} }"))
    assert spaced.style == "libtest"
    main = problem_from_row("p", 1, dict(ADD_PROBLEM, test="fn main() { assert!(add(1, 1) == 2); }"))
    assert main.style == "main"
    assert problem_from_row("p", 1, ADD_MAIN_PROBLEM).style == "main"


# ---------------------------------------------------------------- inputs.py


def test_inputs_pairs_samples_with_problems(tmp_path, add_problems):
    s = write_jsonl(tmp_path / "s.jsonl", [GOOD, dict(GOOD, completion="a - b }")])
    inp = Inputs([str(add_problems)])
    sf = inp.load(str(s))
    assert sf.path == str(s.resolve())
    assert len(sf.samples) == len(sf.problems) == 2
    assert all(p.task_id == "Add/0" and p.fmt == "humaneval" for p in sf.problems)
    assert inp.load(str(s)) is sf  # cached
    sample, problem = inp.get(str(s), 1)
    assert sample.completion == "a - b }" and problem is sf.problems[1]


def test_inputs_task_id_in_no_problem_file(tmp_path, add_problems):
    s = write_jsonl(tmp_path / "s.jsonl", [GOOD, GOOD, dict(GOOD, task_id="Nowhere/9")])
    inp = Inputs([str(add_problems)])
    with pytest.raises(InputError) as ei:
        inp.load(str(s))
    check_error(ei.value, s.resolve(), 3, "task_id")
    assert "'Nowhere/9'" in ei.value.message and "problems.jsonl" in ei.value.message


def test_inputs_task_id_missing_from_every_real_file(tmp_path, datasets):
    files = [str(datasets / n) for n in (HUMANEVAL, MULTIPLE)]
    s = write_jsonl(tmp_path / "s.jsonl", [{"task_id": "HumanEval/0", "completion": ""},
                                           {"task_id": "HumanEval_56_correct_bracketing", "completion": ""},
                                           {"task_id": "HumanEval/164", "completion": ""}])
    with pytest.raises(InputError) as ei:
        Inputs(files).load(str(s))
    check_error(ei.value, s.resolve(), 3, "task_id")
    assert HUMANEVAL in ei.value.message and MULTIPLE in ei.value.message


def test_inputs_real_files_resolve_each_format(tmp_path, datasets):
    files = [str(datasets / n) for n in (HUMANEVAL, SIGIL, HUMANEVALX, MULTIPLE)]
    sigil_id = next(iter(load_problems([files[1]])))
    ids = ["HumanEval/0", sigil_id, "Rust/0", "HumanEval_56_correct_bracketing"]
    s = write_jsonl(tmp_path / "s.jsonl", [{"task_id": t, "completion": ""} for t in ids])
    sf = Inputs(files).load(str(s))
    assert [(p.fmt, p.edition) for p in sf.problems] == [
        ("humaneval", "2021"), ("humaneval", "2024"), ("humanevalx", "2021"), ("multipl-e", "2015")]


def test_inputs_no_problem_file_given(tmp_path):
    s = write_jsonl(tmp_path / "s.jsonl", [GOOD])
    with pytest.raises(InputError) as ei:
        Inputs([]).load(str(s))
    check_error(ei.value, s.resolve(), 1, "task_id")
    assert "no --heval-problems" in ei.value.message


def test_inputs_inline_problem_needs_no_problem_file(tmp_path):
    rows = [
        dict(GOOD, prompt=ADD_PROBLEM["prompt"], test=ADD_PROBLEM["test"]),
        dict(GOOD, task_id="M", prompt=ADD_MAIN_PROBLEM["prompt"], tests=ADD_MAIN_PROBLEM["tests"]),
        dict(GOOD, task_id="X", prompt="fn main(){}\nfn add(", declaration="fn add(", test=ADD_PROBLEM["test"]),
        dict(GOOD, task_id="E", prompt="", test="fn main() {}", edition="2024"),
    ]
    s = write_jsonl(tmp_path / "s.jsonl", rows)
    sf = Inputs([]).load(str(s))
    a, m, x, e = sf.problems
    assert (a.head, a.test, a.edition, a.style) == (ADD_PROBLEM["prompt"], ADD_PROBLEM["test"], "2021", "libtest")
    assert (m.head, m.test, m.edition, m.style, m.fmt) == (
        ADD_MAIN_PROBLEM["prompt"], ADD_MAIN_PROBLEM["tests"], "2015", "main", "multipl-e")
    assert x.head == "fn add("
    assert e.edition == "2024" and e.style == "main"
    assert a.source == f"{s.resolve()}:1"


def test_inputs_inline_bad_edition(tmp_path):
    s = write_jsonl(tmp_path / "s.jsonl", [dict(GOOD, prompt="", test=""), dict(GOOD, prompt="", test="", edition="2020")])
    with pytest.raises(InputError) as ei:
        Inputs([]).load(str(s))
    check_error(ei.value, s.resolve(), 2, "edition")


def test_inputs_prompt_without_test_uses_problem_file(tmp_path, add_problems):
    s = write_jsonl(tmp_path / "s.jsonl", [dict(GOOD, prompt="something else")])
    p = Inputs([str(add_problems)]).load(str(s)).problems[0]
    assert p.head == ADD_PROBLEM["prompt"] and p.source == f"{add_problems.resolve()}:1"


def test_inputs_bad_problem_file_fails_at_construction(tmp_path):
    p = write_jsonl(tmp_path / "p.jsonl", [{"nothing": "here"}])
    with pytest.raises(InputError) as ei:
        Inputs([str(p)])
    check_error(ei.value, p.resolve(), 1, None)


def test_samples_paths(tmp_path):
    a = tmp_path / "a.jsonl"
    out = samples_paths([str(a), f"{a}::Add/0#1", str(tmp_path / "b.jsonl.gz"), "c.json", "-q", "d.py::x"])
    assert out == [str(a), str(tmp_path / "b.jsonl.gz")]


def test_check_files_exist(tmp_path):
    a = write_jsonl(tmp_path / "a.jsonl", [GOOD])
    assert check_files_exist([str(a)], "samples file") is None
    msg = check_files_exist([str(a), str(tmp_path / "gone.jsonl")], "problem file")
    assert msg == f"problem file not found: {tmp_path / 'gone.jsonl'}"
    assert check_files_exist([str(tmp_path)], "problem file") is not None  # a directory is not a file
