"""`aekit` subcommands: text (being written)."""


def add_commands(sub) -> None:
    pass
