"""`aekit` subcommands: anomaly (being written)."""


def add_commands(sub) -> None:
    pass
