"""The one exception type the CLI turns into a one-line error and a non-zero exit, and the one a
proposer raises to end a run cleanly."""


class SkillkilnError(Exception):
    """A user-facing failure: bad input, missing data, an unreachable service, a corrupt store."""

    exit_code = 2


class StopRun(Exception):
    """Not a failure: the run ends here, with status `stopped`, its summary and report (a spent
    budget, a replayed transcript with no answers left)."""
