"""`aekit` subcommands: finetune (being written)."""


def add_commands(sub) -> None:
    pass
