"""``cdse-gateway keys``: create, list and revoke API keys; hash a password for the access
file. Keys go to the store the settings name (``GATEWAY_ACCESS_KEY_STORE``)."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.access.keys import KeyStore

keys = typer.Typer(add_completion=False, help="API keys of the access control (docs/access.md).")

EVERY = "*"


def _store() -> KeyStore:
    from gateway.access.setup import key_store
    from gateway.command_settings import command_settings

    return key_store(command_settings())


@keys.command("create")
def create_key(
    name: Annotated[str, typer.Option(help="who or what the key is for")],
    doors: Annotated[str, typer.Option(help="wms,wmts,wcs,wfs,ogcapi,processes or *")] = EVERY,
    collections: Annotated[str, typer.Option(help="collection ids, comma-separated, or *")] = EVERY,
    layers: Annotated[str, typer.Option(help="layer names, comma-separated, or *")] = EVERY,
    processes: Annotated[bool, typer.Option("--processes/--no-processes")] = True,
) -> None:
    """Make a key; it is shown once (only its SHA-256 is kept)."""
    from gateway.access.grants import Grant
    from gateway.access.keys import create

    try:
        grant = Grant.of(
            {"doors": doors, "collections": collections, "layers": layers, "processes": processes}
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    key, record = create(_store(), name, grant)
    typer.echo(f"id: {record.id}")
    typer.echo(f"key: {key}")


@keys.command("list")
def list_keys() -> None:
    """Each key's id, name, creation time and grant (never the key)."""
    for record in sorted(_store().all(), key=lambda r: r.created):
        grant = record.grant.as_data()
        shown = " ".join(
            f"{field}={','.join(v) if isinstance(v, list) else v}" for field, v in grant.items()
        )
        typer.echo(f"{record.id}  {record.created}  {record.name}  {shown}")


@keys.command("revoke")
def revoke_key(key_id: Annotated[str, typer.Argument(help="the id `keys list` shows")]) -> None:
    """Remove a key: it stops working (with Redis, within 10 s in every process)."""
    if not _store().remove(key_id):
        typer.secho(f"no key {key_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@keys.command("hash-password")
def hash_password_command(
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
) -> None:
    """The stored form of an HTTP Basic user's password, for the access file."""
    from gateway.access.secrets import hash_password

    typer.echo(hash_password(password))
