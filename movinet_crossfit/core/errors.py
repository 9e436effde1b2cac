"""Errors a user can act on: the CLI prints their message without a traceback."""


class UserError(Exception):
    """Bad input or configuration. The message names the input and the fix."""
