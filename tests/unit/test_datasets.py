"""Named datasets: real downloads from an HTTP server on 127.0.0.1 serving the shared public files,
the cache, checksum and network failures, and the CLI through a subprocess."""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pytest_heval import datasets as D

from tests.helpers import REPO

# registry name -> the copy of it in ../shared/datasets
SHARED = {
    "humaneval-rust": "humaneval-rust-164.jsonl",
    "humaneval-rust-sigil": "humaneval-rust-sigil-180.jsonl",
    "humaneval-x-rust": "humaneval-x-rust.jsonl.gz",
    "humanevalpack-rust": "humanevalpack-rust.jsonl",
}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class Server:
    """http.server on 127.0.0.1, an OS-chosen port, in a thread; counts the GET requests it served."""

    def __init__(self, root: Path, handler=_Quiet):
        self.requests = 0
        outer = self

        class Counting(handler):
            def do_GET(self):
                outer.requests += 1
                super().do_GET()

        kw = {"directory": str(root)} if issubclass(handler, http.server.SimpleHTTPRequestHandler) else {}
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Counting(*a, **kw))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def served(tmp_path, datasets) -> Path:
    """A temp dir holding the shared files under the registry's file names."""
    root = tmp_path / "served"
    root.mkdir()
    for name, shared in SHARED.items():
        shutil.copyfile(datasets / shared, root / D.get(name).filename)
    return root


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    d = tmp_path / "cache"
    monkeypatch.setenv(D.DIR_ENV, str(d))
    return d


@pytest.fixture
def server(served, monkeypatch):
    s = Server(served)
    monkeypatch.setenv(D.URL_ENV, s.url)
    yield s
    s.stop()


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- the registry itself ----

def test_registry_entries_are_complete_and_pinned():
    assert D.names() == ["humaneval-rust", "humaneval-rust-sigil", "humaneval-x-rust", "humanevalpack-rust",
                         "multipl-e-humaneval-rs", "multipl-e-humaneval-rs-keep", "multipl-e-mbpp-rs"]
    assert len({d.filename for d in D.DATASETS}) == len(D.DATASETS)
    for ds in D.DATASETS:
        assert len(ds.sha256) == 64 and int(ds.sha256, 16) >= 0
        # pinned at a full 40-hex commit, not a branch
        parts = ds.url.split("/")
        assert ds.url.startswith("https://raw.githubusercontent.com/") and len(parts[5]) == 40, ds.url
        int(parts[5], 16)
        assert ds.rows > 0 and ds.size > 0 and ds.license and ds.verified and ds.filename


def test_shared_copies_have_the_pinned_bytes(datasets):
    """The team's copies are the pinned files (so the tests below download the real thing)."""
    for name, shared in SHARED.items():
        ds = D.get(name)
        p = datasets / shared
        assert p.stat().st_size == ds.size, name
        assert D.sha256_file(p) == ds.sha256, name
        assert len(D.task_ids(p)) == ds.rows, name


def test_cache_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HEVAL_DATA_DIR", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert D.cache_dir() == tmp_path / "a"
    monkeypatch.delenv("HEVAL_DATA_DIR")
    assert D.cache_dir() == tmp_path / "x" / "pytest-heval" / "datasets"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert D.cache_dir() == tmp_path / "home" / ".cache" / "pytest-heval" / "datasets"


def test_url_base_override(monkeypatch):
    ds = D.get("humaneval-x-rust")
    monkeypatch.delenv(D.URL_ENV, raising=False)
    assert D.source_url(ds) == ds.url
    monkeypatch.setenv(D.URL_ENV, "http://127.0.0.1:9/mirror/")
    assert D.source_url(ds) == "http://127.0.0.1:9/mirror/humaneval-x-rust.jsonl.gz"


def test_unknown_name_lists_the_known_ones(cache):
    with pytest.raises(D.UnknownDataset) as e:
        D.fetch("humaneval-cobol")
    for name in D.names():
        assert name in str(e.value)


# ---- downloads against a real server ----

def test_fetch_downloads_then_uses_the_cache_offline(cache, server, served):
    paths = {name: D.fetch(name) for name in SHARED}  # the sets the team has a copy of
    assert server.requests == len(SHARED)
    for name, p in paths.items():
        ds = D.get(name)
        assert p == cache / ds.filename
        assert D.sha256_file(p) == ds.sha256
        assert D.is_cached(name)
    assert sorted(os.listdir(cache)) == sorted(D.get(n).filename for n in SHARED)  # no temp files left
    server.stop()
    for name, p in paths.items():  # server gone: the cache answers
        assert D.fetch(name) == p
        assert D.resolve(name) == p
    assert server.requests == len(SHARED)


def test_a_damaged_cached_file_is_fetched_again(cache, server):
    p = D.fetch("humaneval-rust")
    p.write_bytes(p.read_bytes()[:-10])
    assert not D.is_cached("humaneval-rust")
    assert D.fetch("humaneval-rust") == p
    assert D.sha256_file(p) == D.get("humaneval-rust").sha256
    assert server.requests == 2


def test_checksum_mismatch_is_clear_and_leaves_nothing(cache, server, served):
    ds = D.get("humanevalpack-rust")
    f = served / ds.filename
    data = bytearray(f.read_bytes())
    data[1000] ^= 0x20  # one flipped bit, same size
    f.write_bytes(bytes(data))
    with pytest.raises(D.ChecksumMismatch) as e:
        D.fetch(ds.name)
    msg = str(e.value)
    assert "checksum mismatch" in msg and ds.sha256 in msg and e.value.got in msg and e.value.got != ds.sha256
    assert f"{server.url}/{ds.filename}" in msg
    assert list(cache.iterdir()) == []
    assert not D.is_cached(ds.name)


def test_truncated_download_leaves_nothing(cache, server, served):
    ds = D.get("humaneval-rust-sigil")
    f = served / ds.filename
    f.write_bytes(f.read_bytes()[: ds.size // 2])
    with pytest.raises(D.ChecksumMismatch) as e:
        D.fetch(ds.name)
    assert f"({ds.size // 2} bytes)" in str(e.value)
    assert list(cache.iterdir()) == []


class _DropsMidway(http.server.BaseHTTPRequestHandler):
    """Announces the whole file, sends a part, hangs up: an interrupted transfer."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b'{"task_id": "x"}\n' * 100)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


def test_interrupted_download_leaves_nothing(cache, tmp_path, monkeypatch):
    s = Server(tmp_path, handler=_DropsMidway)
    monkeypatch.setenv(D.URL_ENV, s.url)
    try:
        with pytest.raises(D.DownloadError) as e:
            D.fetch("humaneval-rust")
    finally:
        s.stop()
    assert "the connection closed after 1700 of the 100000 bytes announced" in str(e.value)
    assert list(cache.iterdir()) == []


def test_http_404_is_named(cache, server, served):
    (served / D.get("humaneval-x-rust").filename).unlink()
    with pytest.raises(D.DownloadError) as e:
        D.fetch("humaneval-x-rust")
    assert "HTTP 404" in str(e.value)
    assert list(cache.iterdir()) == []


def test_no_network_names_the_command_to_run_elsewhere(cache, monkeypatch):
    monkeypatch.setenv(D.URL_ENV, f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(D.DownloadError) as e:
        D.fetch("humaneval-rust")
    msg = str(e.value)
    assert "python -m pytest_heval datasets fetch humaneval-rust" in msg
    assert str(cache) in msg and "humaneval-rust-164.jsonl" in msg
    assert "cannot reach it" in msg and "Connection refused" in msg
    assert not any(cache.iterdir())


# ---- resolve and guess ----

def test_resolve_prefers_an_existing_path(cache, tmp_path, monkeypatch):
    monkeypatch.setenv(D.URL_ENV, f"http://127.0.0.1:{closed_port()}")
    local = tmp_path / "humaneval-rust"  # a file that happens to have a dataset's name
    local.write_text("{}\n")
    monkeypatch.chdir(tmp_path)
    assert D.resolve("humaneval-rust") == Path("humaneval-rust")
    assert D.resolve(local) == local
    with pytest.raises(D.DatasetError) as e:
        D.resolve(tmp_path / "missing.jsonl")
    assert "missing.jsonl" in str(e.value) and "humaneval-rust" in str(e.value)


def test_resolve_fetches_a_known_name(cache, server):
    p = D.resolve("humaneval-x-rust")
    assert p == cache / "humaneval-x-rust.jsonl.gz" and server.requests == 1


def test_guess_considers_only_cached_sets(cache, server):
    assert D.guess(["HumanEval/0", "HumanEval/163"]) is None  # nothing cached yet: no download either
    assert server.requests == 0
    D.fetch("humaneval-rust")
    assert D.guess(["HumanEval/0", "HumanEval/163"]) == "humaneval-rust"
    assert D.guess(["HumanEval/0", "HumanEval/164"]) is None  # one id is in no set
    assert D.guess([]) is None
    D.fetch("humaneval-rust-sigil")
    sigil = sorted(D.task_ids(D.cache_path("humaneval-rust-sigil")))
    assert D.guess(sigil[:5]) == "humaneval-rust-sigil"
    assert D.guess(["HumanEval/0", sigil[0]]) is None  # spans two sets


def test_guess_is_none_when_several_sets_match(cache, server):
    D.fetch("humaneval-x-rust")
    assert D.guess(["Rust/0", "Rust/163"]) == "humaneval-x-rust"
    D.fetch("humanevalpack-rust")  # same Rust/N ids
    assert D.matching(["Rust/0", "Rust/163"]) == ["humaneval-x-rust", "humanevalpack-rust"]
    assert D.guess(["Rust/0", "Rust/163"]) is None


def test_task_ids_of_a_multipl_e_json_list(datasets):
    ids = D.task_ids(datasets / "multipl-e-humaneval-rs-keep.json")
    assert len(ids) == 156 and "HumanEval_0_has_close_elements" in ids


# ---- the CLI, as a user runs it ----

def cli(*args, env_extra=None):
    env = dict(os.environ, PYTHONPATH=str(REPO), **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "pytest_heval", *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_cli_list_fetch_path(cache, server):
    env = {D.DIR_ENV: str(cache), D.URL_ENV: server.url}
    r = cli("datasets", "list", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert f"cache: {cache}" in r.stdout
    for name in D.names():
        assert name in r.stdout
    assert "cached" not in r.stdout

    r = cli("datasets", "path", "humaneval-rust", env_extra=env)
    assert r.returncode == 1 and r.stdout == ""
    assert "python -m pytest_heval datasets fetch humaneval-rust" in r.stderr

    r = cli("datasets", "fetch", "humaneval-rust", "humaneval-x-rust", env_extra=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [str(cache / "humaneval-rust-164.jsonl"), str(cache / "humaneval-x-rust.jsonl.gz")]
    assert D.sha256_file(cache / "humaneval-x-rust.jsonl.gz") == D.get("humaneval-x-rust").sha256

    r = cli("datasets", "path", "humaneval-rust", env_extra=env)
    assert r.returncode == 0 and r.stdout.strip() == str(cache / "humaneval-rust-164.jsonl")

    r = cli("datasets", "list", "--long", env_extra=env)
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("humaneval-rust "))
    assert " cached " in line
    assert f"{server.url}/humaneval-rust-164.jsonl" in r.stdout and D.get("humaneval-rust").sha256 in r.stdout


def test_cli_failures_and_bad_usage(cache, tmp_path):
    env = {D.DIR_ENV: str(cache), D.URL_ENV: f"http://127.0.0.1:{closed_port()}"}
    r = cli("datasets", "fetch", "humaneval-rust", env_extra=env)
    assert r.returncode == 1
    assert "python -m pytest_heval datasets fetch humaneval-rust" in r.stderr
    r = cli("datasets", "fetch", "no-such-set", env_extra=env)
    assert r.returncode == 2 and "known datasets: humaneval-rust" in r.stderr
    r = cli("datasets", "fetch", env_extra=env)
    assert r.returncode == 2 and "--all" in r.stderr
    r = cli("datasets", env_extra=env)
    assert r.returncode == 2
    r = cli(env_extra=env)
    assert r.returncode == 2 and "COMMAND" in r.stderr


def test_datasets_and_cli_load_no_pytest_module():
    code = ("import sys, pytest_heval.datasets, pytest_heval.cli\n"
            "print(','.join(sorted(m for m in sys.modules if m == 'pytest' or m.startswith(('_pytest', 'pytest.')))))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""
