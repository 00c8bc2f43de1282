"""Fuzzing the inputs: whatever a samples or problem file holds, loading it ends in a correct load or an
``InputError`` naming the file (and the line), never another exception; and ``pytest --heval`` turns bad
input into a usage error (exit 4) naming file and line, never a traceback or an INTERNALERROR.

Engine level (fast, many examples): ``Inputs(problem_paths).load(samples_path)`` on generated contents:
random bytes, rows with wrong JSON types for task_id/completion/prompt/test, huge (1 MiB) fields, duplicate
keys in one JSON object, UTF-8 BOMs, CRLF line ends, blank lines, gzip (whole or truncated), JSON lists vs
JSON Lines. Plugin level: a few such files through a real ``pytest --heval`` subprocess.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_heval.errors import InputError
from pytest_heval.inputs import Inputs, SampleSet
from pytest_heval.inputs.problems import DEFAULT_EDITION, EDITIONS

from tests.helpers import ADD_PROBLEM, write_jsonl

BOM = b"\xef\xbb\xbf"
HUGE = "x" * (1 << 20)  # a 1 MiB string field
HUGE_U = "\u00e9\u2028" * (1 << 18)  # 1.25 MiB of UTF-8 with a line separator that is not a JSON Lines separator
GOOD = "    a + b\n}\n"

_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]
FUZZ = settings(max_examples=100, deadline=None, database=None, suppress_health_check=_SLOW_OK)
WIDE = settings(max_examples=70, deadline=None, database=None, suppress_health_check=_SLOW_OK)  # big, slow examples
FAST = settings(max_examples=250, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# the fields the readers look at, and a few more
FIELDS = ("task_id", "completion", "prompt", "test", "tests", "name", "declaration", "edition", "entry_point")
TASK_IDS = ("Add/0", "T/1", "T/2", "", "Nope/9", "a::b#3", "\u00e9\u0000")
EDITION_VALUES = ("2015", "2018", "2021", "2024", "2030", 2021, 2021.0, None, "", True, ["2021"])

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2 ** 63), max_value=2 ** 64 - 1),
                         st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c,
                                                                                             max_size=3),
                           max_leaves=6)
wrong_type = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False),
                       st.lists(st.text(max_size=3), max_size=2), st.dictionaries(st.text(max_size=3),
                                                                                  st.integers(), max_size=2))
huge = st.sampled_from([HUGE, HUGE_U])


@st.composite
def rarely_huge(draw, other: st.SearchStrategy):
    """``other``, or once in a while a 1 MiB string (they are slow to write, so not too often)."""
    return draw(huge) if draw(st.integers(0, 11)) == 0 else draw(other)


_GOOD_VALUES = {
    "task_id": st.sampled_from(TASK_IDS),
    "name": st.sampled_from(TASK_IDS),
    "completion": st.sampled_from([GOOD, "", "\r\n", "    a + b // \u00e9\u2028\n}\n"]) | st.text(max_size=20),
    "prompt": st.sampled_from([ADD_PROBLEM["prompt"], ""]) | st.text(max_size=20),
    "declaration": st.sampled_from([ADD_PROBLEM["prompt"]]) | st.text(max_size=20),
    "test": st.sampled_from([ADD_PROBLEM["test"], "fn main() {}\n"]) | st.text(max_size=20),
    "tests": st.sampled_from([ADD_PROBLEM["test"]]) | st.text(max_size=20),
    "edition": st.sampled_from(EDITION_VALUES),
    "entry_point": st.just("add"),
}
# a field's value: mostly the right type, often a wrong one, now and then 1 MiB
_VALUES = {f: rarely_huge(st.one_of(good, good, wrong_type)) for f, good in _GOOD_VALUES.items()}


def value_for(field: str) -> st.SearchStrategy:
    return _VALUES[field]


@st.composite
def rows(draw) -> Dict[str, Any]:
    keys = draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=len(FIELDS)))
    row = {k: draw(value_for(k)) for k in keys}
    row.update(draw(st.dictionaries(st.text(max_size=5).filter(lambda k: k not in FIELDS), json_values, max_size=2)))
    return row


def render(row: Dict[str, Any], ensure_ascii: bool = True, duplicate: Optional[Tuple[str, Any]] = None) -> bytes:
    """One JSON object; with ``duplicate`` the key appears a second time (last one wins for orjson)."""
    pairs = list(row.items()) + ([duplicate] if duplicate else [])
    return ("{" + ", ".join(f"{json.dumps(k, ensure_ascii=ensure_ascii)}: {json.dumps(v, ensure_ascii=ensure_ascii)}"
                            for k, v in pairs) + "}").encode("utf-8")


@st.composite
def lines(draw) -> bytes:
    kind = draw(st.sampled_from(["row", "row", "row", "dup", "value", "garbage", "cut"]))
    if kind == "value":  # a JSON value that is not an object
        return json.dumps(draw(json_values)).encode()
    if kind == "garbage":
        return draw(st.binary(max_size=24)).replace(b"\n", b"")
    row = draw(rows())
    if kind == "dup" and row:
        key = draw(st.sampled_from(sorted(row)))
        return render(row, duplicate=(key, draw(value_for(key) if key in FIELDS else json_values)))
    data = render(row, ensure_ascii=draw(st.booleans()))
    if kind == "cut":
        data = data[:draw(st.integers(0, max(0, len(data) - 1)))]
    return data


@st.composite
def files(draw, line_strategy=lines()) -> bytes:
    """A whole file: lines joined by LF or CRLF, blank lines, a BOM, a JSON list, gzip (maybe truncated)."""
    body = draw(st.lists(line_strategy, max_size=6))
    if draw(st.integers(0, 5)) == 0:
        data = b"[" + b",\n".join(body) + b"]"  # a JSON list instead of JSON Lines
    else:
        sep = draw(st.sampled_from([b"\n", b"\r\n"]))
        out: List[bytes] = []
        for ln in body:
            out.extend(draw(st.lists(st.sampled_from([b"", b"  ", b"\t", b"\r"]), max_size=2)))
            out.append(ln)
        data = sep.join(out) + draw(st.sampled_from([b"", sep, sep + sep]))
    if draw(st.booleans()):
        data = BOM + data
    pack = draw(st.sampled_from(["plain", "plain", "gzip", "truncated-gzip"]))
    if pack != "plain":
        data = gzip.compress(data, compresslevel=1)
        if pack == "truncated-gzip":
            data = data[:draw(st.integers(0, len(data) - 1))]
    return data


# ---------------------------------------------------------------- the oracle's helpers

def decoded(data: bytes) -> Optional[bytes]:
    """What the readers see after gzip and BOM; None when the gzip data is broken."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            return None
    return data[3:] if data.startswith(BOM) else data


def check_input_error(e: InputError, contents: Dict[str, bytes], problem_paths: Sequence[str]) -> None:
    """The error names one of the files, and a line that exists and holds something (or, in a problem file
    that is a JSON list, an element number)."""
    assert e.path in contents, (e.path, list(contents))
    assert str(e).startswith(e.path) and e.message
    assert e.field in (None,) + FIELDS, e.field
    if e.line is None:
        return
    text = decoded(contents[e.path])
    assert text is not None, f"a line number ({e.line}) for undecodable gzip data"
    assert e.line >= 1
    if e.path in problem_paths and text.lstrip()[:1] == b"[":  # a JSON list: the line is the element number
        try:
            elements = orjson.loads(text)
        except orjson.JSONDecodeError:
            elements = None
        if isinstance(elements, list):
            assert e.line <= len(elements), (e.line, len(elements))
            return
    physical = text.split(b"\n")
    assert e.line <= len(physical), (e.line, len(physical))
    assert physical[e.line - 1].strip(), f"line {e.line} named by the error is blank: {e}"


def check_loaded(sf: SampleSet, samples_data: bytes) -> None:
    text = decoded(samples_data)
    assert text is not None
    expected = [orjson.loads(ln.strip()) for ln in text.split(b"\n") if ln.strip()]
    assert [s.row for s in sf.samples] == expected
    assert [s.index for s in sf.samples] == list(range(len(expected)))
    assert [s.line for s in sf.samples] == sorted(set(s.line for s in sf.samples))
    assert len(sf.problems) == len(sf.samples)
    for s, p in zip(sf.samples, sf.problems):
        assert isinstance(s.task_id, str) and s.task_id and s.task_id == s.row["task_id"]
        assert isinstance(s.completion, str) and s.completion == s.row["completion"]
        assert p.task_id == s.task_id
        assert isinstance(p.head, str) and isinstance(p.test, str)
        assert p.edition in EDITIONS


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def load(d: Path, problem_files: Sequence[bytes], samples: bytes, problem_suffix: str = ".jsonl"):
    """Write the files and load them: the SampleSet, or the InputError (checked). Anything else propagates."""
    contents: Dict[str, bytes] = {}
    paths = []
    for i, data in enumerate(problem_files):
        p = d / f"problems{i}{problem_suffix}"
        p.write_bytes(data)
        paths.append(str(p))
        contents[str(p)] = data
    s = d / "samples.jsonl"
    s.write_bytes(samples)
    contents[str(s)] = samples
    try:
        sf = Inputs(paths).load(str(s))
    except InputError as e:
        check_input_error(e, contents, paths)
        return e
    check_loaded(sf, samples)
    return sf


# ---------------------------------------------------------------- engine level: anything goes

@FAST
@given(samples=st.binary(max_size=300), problems=st.binary(max_size=300), prefix=st.sampled_from(
    [b"", BOM, b"\x1f\x8b", b"\x1f\x8b\x08\x00", b"[", b"{", BOM + b"["]))
def test_random_bytes_load_or_input_error(fuzz_dir, samples, problems, prefix):
    load(fuzz_dir, [prefix + problems], prefix + samples)
    load(fuzz_dir, [write_ok_problems()], prefix + samples)


@WIDE
@given(samples=files(), problems=st.lists(files(), min_size=0, max_size=2))
def test_generated_files_load_or_input_error(fuzz_dir, samples, problems):
    load(fuzz_dir, problems, samples)


@WIDE
@given(samples=files(), problem=st.sampled_from([0, 1]))
def test_generated_samples_against_good_problems(fuzz_dir, samples, problem):
    # a good problem file, so that more generated samples get as far as the pairing with their problem
    load(fuzz_dir, [write_ok_problems(json_list=bool(problem))], samples, ".json" if problem else ".jsonl")


def write_ok_problems(json_list: bool = False) -> bytes:
    rows = [dict(ADD_PROBLEM), dict(ADD_PROBLEM, task_id="T/1"), dict(ADD_PROBLEM, task_id="T/2", edition="2018"),
            dict(ADD_PROBLEM, task_id="a::b#3"), dict(ADD_PROBLEM, task_id="\u00e9\u0000")]
    if json_list:
        return json.dumps(rows, indent=1).encode()
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


# ---------------------------------------------------------------- engine level: one bad row, named exactly

# (kind, the field the error must name); every kind makes exactly one row bad
BAD_SAMPLE_KINDS = [
    ("task_id-type", "task_id"), ("completion-type", "completion"), ("prompt-type", "prompt"),
    ("test-type", "test"), ("task_id-missing", "task_id"), ("completion-missing", "completion"),
    ("task_id-empty", "task_id"), ("task_id-unknown", "task_id"), ("dup-last-wrong", "completion"),
    ("not-object", None), ("malformed", None), ("invalid-utf8", None), ("bom-inside", None),
]


@st.composite
def good_samples(draw) -> List[Dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(1, 6))):
        row: Dict[str, Any] = {"task_id": draw(st.sampled_from(["Add/0", "T/1", "T/2"])),
                               "completion": draw(rarely_huge(st.text(max_size=30) | st.just(GOOD)))}
        if draw(st.integers(0, 3)) == 0:  # a row that is its own problem
            row.update(task_id=draw(st.sampled_from(["own/0", "Nope/9"])), prompt=ADD_PROBLEM["prompt"],
                       test=ADD_PROBLEM["test"])
        row.update(draw(st.dictionaries(st.sampled_from(["model", "temperature", "meta", "tests"]), json_values,
                                        max_size=2)))
        if isinstance(row.get("tests"), str) and "prompt" not in row:
            del row["tests"]
        out.append(row)
    return out


def bad_line(kind: str, draw) -> bytes:
    base = {"task_id": "Add/0", "completion": GOOD}
    if kind.endswith("-type"):
        field = kind[:-5]
        return render(dict(base, **{field: draw(wrong_type)}))
    if kind.endswith("-missing"):
        return render({k: v for k, v in base.items() if k != kind[:-8]})
    if kind == "task_id-empty":
        return render(dict(base, task_id=""))
    if kind == "task_id-unknown":
        return render(dict(base, task_id="Nope/9", prompt=draw(st.sampled_from([ADD_PROBLEM["prompt"], HUGE]))))
    if kind == "dup-last-wrong":
        return render(base, duplicate=("completion", draw(wrong_type)))
    if kind == "not-object":
        return json.dumps(draw(st.one_of(json_scalars, st.lists(json_scalars, max_size=3)))).encode()
    if kind == "malformed":
        full = render(base)
        return full[:draw(st.integers(1, len(full) - 1))]
    if kind == "invalid-utf8":
        return b'{"task_id": "Add/0", "completion": "\xff\xfe\xc3"}'
    if kind == "bom-inside":
        return BOM + render(base)
    raise AssertionError(kind)


@FUZZ
@given(data=st.data(), rows_=good_samples(), bad=st.sampled_from(BAD_SAMPLE_KINDS + [(None, None)]),
       crlf=st.booleans(), bom=st.booleans(), blank=st.lists(st.integers(0, 3), max_size=7),
       pack=st.sampled_from(["plain", "gzip"]), ensure_ascii=st.booleans())
def test_one_bad_sample_row_is_named_by_line_and_field(fuzz_dir, data, rows_, bad, crlf, bom, blank, pack,
                                                       ensure_ascii):
    kind, field = bad
    encoded = [render(r, ensure_ascii=ensure_ascii) for r in rows_]
    bad_at = data.draw(st.integers(0, len(encoded))) if kind else None
    if kind:
        if kind == "bom-inside" and bad_at == 0 and not bom:
            bom = True  # a BOM on the first line is allowed: keep this one inside the file
            encoded.insert(0, render({"task_id": "Add/0", "completion": GOOD}))
            rows_.insert(0, {"task_id": "Add/0", "completion": GOOD})
            bad_at = 1
        encoded.insert(bad_at, bad_line(kind, data.draw))
    out: List[bytes] = []
    line_of: List[int] = []
    for i, ln in enumerate(encoded):
        out.extend([b""] * (blank[i] if i < len(blank) else 0))
        out.append(ln)
        line_of.append(len(out))
    sep = b"\r\n" if crlf else b"\n"
    raw = (BOM if bom else b"") + sep.join(out) + sep
    if pack == "gzip":
        raw = gzip.compress(raw, compresslevel=1)
    r = load(fuzz_dir, [write_ok_problems()], raw)
    if kind is None:
        assert isinstance(r, SampleSet), r
        assert [s.row for s in r.samples] == rows_
        assert [s.line for s in r.samples] == line_of
        return
    assert isinstance(r, InputError), f"{kind}: loaded without error"
    assert (r.line, r.field) == (line_of[bad_at], field), (kind, str(r))


# ---------------------------------------------------------------- engine level: problem files

PROBLEM_FORMATS = {
    "humaneval": lambda tid: {"task_id": tid, "prompt": ADD_PROBLEM["prompt"], "test": ADD_PROBLEM["test"]},
    "humanevalx": lambda tid: {"task_id": tid, "prompt": "/* doc */", "declaration": ADD_PROBLEM["prompt"],
                               "test": ADD_PROBLEM["test"]},
    "multipl-e": lambda tid: {"name": tid, "prompt": ADD_PROBLEM["prompt"], "tests": ADD_PROBLEM["test"]},
}
# (kind, field named) for a bad problem row
BAD_PROBLEM_KINDS = [("prompt-type", "prompt"), ("test-type", "test"), ("task_id-type", "task_id"),
                     ("task_id-empty", "task_id"), ("unknown-format", None), ("not-object", None),
                     ("bad-edition", "edition"), ("conflict", "task_id"), ("dup-last-wrong", "prompt")]


def bad_problem(kind: str, draw) -> Any:
    base = PROBLEM_FORMATS["humaneval"]("Bad/0")
    if kind.endswith("-type"):
        return dict(base, **{kind[:-5]: draw(wrong_type)})
    if kind == "task_id-empty":
        return dict(base, task_id="")
    if kind == "unknown-format":
        return {"task_id": "Bad/0", "prompt": "x", "completion": "y"}
    if kind == "not-object":
        return draw(st.one_of(json_scalars, st.lists(json_scalars, max_size=2)))
    if kind == "bad-edition":
        return dict(base, edition=draw(st.sampled_from(["2030", "21", 2021.5, True, ["2021"]])))
    if kind == "conflict":
        return PROBLEM_FORMATS["humaneval"]("P/0") | {"test": "fn main() {}\n"}
    if kind == "dup-last-wrong":
        return ("dup", base)
    raise AssertionError(kind)


@FUZZ
@given(data=st.data(), fmts=st.lists(st.sampled_from(sorted(PROBLEM_FORMATS)), min_size=1, max_size=5),
       bad=st.sampled_from(BAD_PROBLEM_KINDS + [(None, None)]), as_list=st.booleans(), crlf=st.booleans(),
       bom=st.booleans(), huge_test=st.booleans(), pack=st.sampled_from(["plain", "gzip"]))
def test_problem_files_json_list_or_jsonl_and_one_bad_row(fuzz_dir, data, fmts, bad, as_list, crlf, bom, huge_test,
                                                          pack):
    kind, field = bad
    rows_: List[Any] = [PROBLEM_FORMATS[f](f"P/{i}") for i, f in enumerate(fmts)]
    if huge_test:
        key = "tests" if "tests" in rows_[0] else "test"
        rows_[0][key] += "// " + HUGE + "\n"
    bad_at = data.draw(st.integers(1 if kind == "conflict" else 0, len(rows_))) if kind else None
    if kind:
        row = bad_problem(kind, data.draw)
        if isinstance(row, list) and bad_at == 0 and not as_list:
            row = None  # a JSON Lines file whose first line is a list reads as a JSON list: keep that case apart
        rows_.insert(bad_at, row)
    # JSON Lines: one value a line; a JSON list: element numbers. Duplicate keys are rendered by hand.
    enc = [render(r[1], duplicate=("prompt", 7)) if isinstance(r, tuple) else json.dumps(r).encode() for r in rows_]
    sep = b"\r\n" if crlf else b"\n"
    raw = (b"[" + (b"," + sep).join(enc) + b"]" if as_list else sep.join(enc) + sep)
    raw = (BOM if bom else b"") + raw
    if pack == "gzip":
        raw = gzip.compress(raw, compresslevel=1)
    samples = b"".join(render({"task_id": f"P/{i}", "completion": GOOD}) + b"\n" for i in range(len(fmts)))
    r = load(fuzz_dir, [raw], samples, ".json" if as_list else ".jsonl")
    if kind is None:
        assert isinstance(r, SampleSet), r
        for i, (s, p) in enumerate(zip(r.samples, r.problems)):
            assert p.fmt == fmts[i] and p.edition == DEFAULT_EDITION[fmts[i]]
            row = rows_[i]
            assert p.head == row.get("declaration", row["prompt"]) and p.test == row.get("tests", row.get("test"))
        return
    assert isinstance(r, InputError), f"{kind}: loaded without error"
    assert r.path.startswith(str(fuzz_dir / "problems0"))
    assert (r.line, r.field) == (bad_at + 1, field), (kind, str(r))


@FAST
@given(n=st.integers(1, 4), cut=st.floats(0, 1, exclude_max=True), what=st.sampled_from(["samples", "problems"]))
def test_truncated_gzip_is_an_input_error(fuzz_dir, n, cut, what):
    samples = b"".join(render({"task_id": "Add/0", "completion": GOOD + str(i)}) + b"\n" for i in range(n))
    problems = write_ok_problems()
    z = gzip.compress(samples if what == "samples" else problems)
    z = z[:int(len(z) * cut)]
    r = load(fuzz_dir, [z if what == "problems" else problems], z if what == "samples" else samples)
    assert isinstance(r, InputError)
    assert r.path.endswith("samples.jsonl" if what == "samples" else "problems0.jsonl")


def test_duplicate_keys_last_one_wins_consistently(fuzz_dir):
    # the same rule for a samples row and a problem row: the last value of a key is the one used
    samples = render({"task_id": 5, "completion": "no"}, duplicate=("task_id", "Add/0")) + b"\n"
    samples = samples.replace(b"}", b', "completion": "    a + b\\n}\\n"}')
    problems = render(dict(ADD_PROBLEM, prompt=7), duplicate=("prompt", ADD_PROBLEM["prompt"])) + b"\n"
    r = load(fuzz_dir, [problems], samples)
    assert isinstance(r, SampleSet)
    assert r.samples[0].task_id == "Add/0" and r.samples[0].completion == GOOD
    assert r.problems[0].head == ADD_PROBLEM["prompt"]
