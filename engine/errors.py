"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class SkillkilnError(Exception):
    """A user-facing failure: bad input, missing data, an unreachable service, a corrupt store."""

    exit_code = 2
