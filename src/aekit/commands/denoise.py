"""`aekit` subcommands: denoise (being written)."""


def add_commands(sub) -> None:
    pass
