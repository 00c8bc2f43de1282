"""The Rust program of a sample: assembly (:mod:`.assemble`), test-text hardening (:mod:`.harden`) and the
exit guard with its end-of-run proof (:mod:`.guard`)."""

from .assemble import SEPARATOR, Program, assemble
from .guard import END_TAG, PROOF, TAMPER_EXIT, TAMPER_MESSAGE, exit_guard
from .harden import expected_tests, harden_test

__all__ = ["END_TAG", "PROOF", "SEPARATOR", "TAMPER_EXIT", "TAMPER_MESSAGE", "Program", "assemble", "exit_guard",
           "expected_tests", "harden_test"]
