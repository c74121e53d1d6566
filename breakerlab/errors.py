"""The app's errors and exit codes, shared by the CLI and the commands it runs.

The Python API (``sweep``, ``search``) raises :class:`ParameterError`: the message names the
*parameter* (``grid: threshold=0..3: ...``), as a caller of the function wrote it. The command
line turns it into the *flag* the user typed (``--grid threshold=0..3: ...``) with
:func:`flag_message`, prints one line and exits :data:`EXIT_INPUT`.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = [
    "EXIT_INPUT",
    "EXIT_OK",
    "EXIT_SLO",
    "InputError",
    "ParameterError",
    "SearchError",
    "SweepError",
    "flag_message",
]

#: 0: the SLOs hold; 1: one failed (or search found a counterexample); 2: bad input
EXIT_OK, EXIT_SLO, EXIT_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad input from the command line: printed as one line, exit 2."""


class ParameterError(ValueError):
    """A bad argument to the Python API: ``param`` names it and starts the message
    (``"grid: threshold=0..3: ..."``); ``param=""`` for input that is no one parameter."""

    def __init__(self, param: str, detail: str) -> None:
        self.param = param
        self.detail = detail
        super().__init__(f"{param}: {detail}" if param else detail)


class SweepError(ParameterError):
    """Bad sweep input (grid, policy, scenario) or failed runs: one line."""


class SearchError(ParameterError):
    """Bad search input (budget, kinds, duration, SLO, ...): one line."""


def flag_message(err: ParameterError, flags: Mapping[str, str] | None = None) -> str:
    """``err`` as the command line says it: its parameter as the flag the user typed
    (``flags[param]``, else ``--param-name``)."""
    if not err.param:
        return err.detail
    flag = (flags or {}).get(err.param) or "--" + err.param.replace("_", "-")
    return f"{flag}: {err.detail}"
