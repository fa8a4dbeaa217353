"""The settings of a ``cdse-gateway`` command: a wrong ``GATEWAY_*`` value ends the command with
one line per value and exit status 2, not a traceback."""

from __future__ import annotations

import typer
from pydantic import ValidationError

from gateway.settings import Settings


def command_settings() -> Settings:
    """The settings from the environment, or the command's end saying what is wrong."""
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            typer.echo(
                f"cdse-gateway: setting {field} (GATEWAY_{field.upper()}): {problem['msg']}",
                err=True,
            )
        raise typer.Exit(2) from None
