"""Sandboxing: choosing and starting a jail (:mod:`.jails`), the engine's client of the sandboxed runner
(:mod:`.client`), the runner that lives inside the jail (:mod:`.runner`, standard library only) and the spawn
helper it starts each command with (:mod:`.spawn`, ``spawn.c``)."""

from .client import UID_BASE, RunnerClient, RunnerError
from .jails import KINDS, Bwrap, Firejail, NoSandbox, Sandbox, get_sandbox

__all__ = ["KINDS", "UID_BASE", "Bwrap", "Firejail", "NoSandbox", "RunnerClient", "RunnerError", "Sandbox",
           "get_sandbox"]
