"""The one exception that means "the user asked for something that cannot work"."""


class BadInput(Exception):
    """Raised for invalid flags, environment or data; the CLI prints it as one line and exits 2.

    Every check that can raise it runs before the experiment directory is created, so bad input leaves
    no files behind.
    """
