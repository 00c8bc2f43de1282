"""The Rust program of a sample: assembly (:mod:`.assemble`), test-text hardening (:mod:`.harden`) and the
exit guard with its report of main's return (:mod:`.guard`)."""

from .assemble import SEPARATOR, Program, assemble
from .guard import PROOF, PROOF_FD, PROOF_PREFIX, TAMPER_EXIT, TAMPER_MESSAGE, WRAP_MAIN, exit_guard
from .harden import expected_tests, harden_test

__all__ = ["PROOF", "PROOF_FD", "PROOF_PREFIX", "SEPARATOR", "TAMPER_EXIT", "TAMPER_MESSAGE", "WRAP_MAIN", "Program",
           "assemble", "exit_guard", "expected_tests", "harden_test"]
