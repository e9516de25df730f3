"""Placeholder: this area's subcommands are being written."""


def register(sub) -> None:
    pass
