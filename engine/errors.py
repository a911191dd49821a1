"""The one exception type the CLI turns into a one-line error and a non-zero exit, and the one a
proposer raises to end a run cleanly."""


class SkillkilnError(Exception):
    """A user-facing failure: bad input, missing data, an unreachable service, a corrupt store."""

    exit_code = 2

    def __init__(self, message: str = "", run_id: str | None = None):
        super().__init__(message)
        self.run_id = run_id  # the stored run it concerns, if one was started


class SkillFailed(SkillkilnError):
    """The skill itself failed on what it was given (`skills run`): exit 1, as a rejection is."""

    exit_code = 1


class StopRun(Exception):
    """Not a failure: the run ends here, with status `stopped`, its summary and report (a spent
    budget, a replayed transcript with no answers left)."""
