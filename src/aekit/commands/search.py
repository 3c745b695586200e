"""`aekit` subcommands: search (being written)."""


def add_commands(sub) -> None:
    pass
