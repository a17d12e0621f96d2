"""User-facing errors: one line naming the problem, exit code 2, no traceback."""
import functools
import logging
import sys

USAGE_EXIT_CODE = 2


class UserError(Exception):
    """Bad input from the user (config, command line, model file): reported in one line."""


def exits_cleanly_on_user_error(main):
    """Wrap an entry point so that a UserError prints one line and exits with code 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        except UserError as error:
            logging.shutdown()
            sys.stderr.write(f"error: {error}\n")
            sys.exit(USAGE_EXIT_CODE)

    return wrapper
