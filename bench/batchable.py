#!/usr/bin/env python3
"""How many real completions still batch under the token allow-list (``features.batchable``) against the regex
it replaces (``program._NOT_BATCHABLE``), with the features each set uses and the time the checks take.

    python3 bench/batchable.py                      # the notes' datasets (../shared/datasets)
    python3 bench/batchable.py --datasets DIR --show 5

What is checked is what a batch module holds: the problem's head (prompt or declaration) + the completion. For the
chat answers (whole markdown answers) the completion is the code of the answer's fence.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pytest_heval.features import batch_refusal, features, fenced_code  # noqa: E402
from pytest_heval.lexer import lex  # noqa: E402


# today's check (program._NOT_BATCHABLE at d066216), kept here to compare: the allow-list replaces it
_NOT_BATCHABLE = re.compile(
    r"crate::|\$crate|#!\s*\[|no_mangle|export_name|link_section|macro_export|module_path!|file!|"
    r"\bmod\s+\w+\s*;|extern\s+crate|#\s*\[\s*path\b|\bsuper::|__heval"
)


def sets(d: str):
    def rows(name):
        with open(os.path.join(d, name), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    he, sigil = rows("humaneval-rust-164.jsonl"), rows("humaneval-rust-sigil-180.jsonl")
    pack, chat = rows("humanevalpack-rust.jsonl"), rows("sandboxfusion-humaneval-rs-chat-answers.jsonl")
    return {
        "humaneval-rust-164 canonical": [(r["prompt"], r["canonical_solution"]) for r in he],
        "sigil-180 canonical": [(r["prompt"], r["canonical_solution"]) for r in sigil],
        "humanevalpack canonical": [(r["declaration"], r["canonical_solution"]) for r in pack],
        "humanevalpack buggy": [(r["declaration"], r["buggy_solution"]) for r in pack],
        "chat answers (fenced code)": [("", fenced_code(r["gpt_solution"])) for r in chat],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets"))
    ap.add_argument("--show", type=int, default=3, help="refusal reasons to print per set")
    a = ap.parse_args()
    print(f"{'set':30} {'rows':>5} {'tokens':>7} {'regex':>6} {'regex+style':>11}  features / refusals")
    total_s, total_n = 0.0, 0
    for name, pairs in sets(a.datasets).items():
        t = time.process_time()
        toks = [lex(h + c) for h, c in pairs]
        why = [batch_refusal(x) for x in toks]
        feats = collections.Counter(f for _h, c in pairs for f in features(c))
        total_s += time.process_time() - t
        total_n += len(pairs)
        regex = sum(not _NOT_BATCHABLE.search(h + c) for h, c in pairs)
        # today only libtest-style programs batch at all; the chat answers belong to MultiPL-E's main-style tests
        styled = 0 if name.startswith("chat") else regex
        new = sum(w is None for w in why)
        reasons = collections.Counter(w for w in why if w).most_common(a.show)
        print(f"{name:30} {len(pairs):5} {new:7} {regex:6} {styled:11}  {dict(feats) or '-'} / {dict(reasons) or '-'}")
    print(f"lex + batch_refusal + features: {1000 * total_s / max(total_n, 1):.2f} ms per completion")
    return 0


if __name__ == "__main__":
    sys.exit(main())
