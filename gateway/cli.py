"""The ``cdse-gateway`` command: serve, sample-data, ingest, render, seed, index, keys."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gateway.access.commands import keys
from gateway.command_settings import command_settings
from gateway.errors import GatewayError
from gateway.settings import Settings

# Sentinel-1 GRD's vendor parameters (BACKCOEFF, NOISEREMOVAL, ORBITDIRECTION), validated as
# the doors validate them (gateway.core.sar.calibration); other collections ignore them.
OrbitDirection = Annotated[
    str | None, typer.Option(help="Sentinel-1: ASCENDING or DESCENDING scenes only")
]
BackCoeff = Annotated[
    str | None,
    typer.Option(help="Sentinel-1: SIGMA0_ELLIPSOID (default), GAMMA0_ELLIPSOID or BETA0"),
]
NoiseRemoval = Annotated[
    str | None, typer.Option(help="Sentinel-1: thermal noise removal, true (default) or false")
]

app = typer.Typer(add_completion=False, help="OGC service gateway for Copernicus data.")
app.add_typer(keys, name="keys")


class _Bar:
    """A rich progress bar behind the engine's ``progress(done, total, label)`` callbacks."""

    def __init__(self, description: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[label]}"),
        )
        self._task = self._progress.add_task(description, total=None, label="")

    def __enter__(self) -> _Bar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def __call__(self, done: int, total: int, label: str) -> None:
        self._progress.update(self._task, completed=done, total=total, label=label)


def _prepare_sample_data(settings: Settings) -> None:
    """Write the embedded sample archive on first use, with a progress bar."""
    from gateway.runtime import ensure_sample_data, needs_sample_data

    if needs_sample_data(settings):
        with _Bar("sample data (first start)") as bar:
            ensure_sample_data(settings, progress=bar)


def _fail(error: GatewayError) -> None:
    """End the command with ``error``'s message (and the parameter it is about), status 2."""
    about = f"{error.locator}: " if error.locator else ""
    typer.secho(f"error: {about}{error.message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(2)


@app.command("sample-data")
def sample_data(
    directory: Annotated[Path, typer.Argument(help="Folder to write the archive into.")],
    profile: Annotated[str, typer.Option(help="small (fast, reduced extent) or full")] = "small",
) -> None:
    """Write the CDSE-shaped sample archive (eodata tree + static STAC catalog)."""
    from gateway.sample import write_sample_archive

    if profile not in ("small", "full"):
        raise typer.BadParameter("profile must be small or full")
    with _Bar(f"sample data ({profile})") as bar:
        write_sample_archive(directory, profile, progress=bar)
    typer.echo(f"sample archive written to {directory}")


def _pairs(text: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (text or "").split(",") if part.strip())


def _object_storage(settings: Settings) -> dict:
    """The ingest's put and delete through the exports' S3 storage."""
    from gateway.processes.storage import delete_output, store_output

    if not settings.output_s3_url:
        _fail(GatewayError("--s3 writes to GATEWAY_OUTPUT_S3_URL: set it (s3://bucket/prefix)"))

    def put(name: str, content: bytes) -> str:
        return store_output(settings, name, content, "image/tiff")

    def delete(name: str) -> None:
        delete_output(settings, name)

    return {"put": put, "delete": delete}


# Items in a STAC API are read by gateways elsewhere: their COGs cannot be in this folder.
STAC_API_NEEDS_S3 = (
    "with GATEWAY_STAC_URL the items go to the STAC API, read by gateways on other machines:"
    " give --s3 so their COGs go to GATEWAY_OUTPUT_S3_URL, not into this data folder"
)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Rasters (GeoTIFF, JP2...), Zarr stores")],
    collection: Annotated[str, typer.Option(help="the collection to add them to")],
    bands: Annotated[str | None, typer.Option(help="band names, e.g. red,nir (b1..bn)")] = None,
    units: Annotated[str | None, typer.Option(help="UCUM units by band, e.g. dem=m")] = None,
    datetime: Annotated[str | None, typer.Option(help="ISO 8601 date of every file")] = None,
    datetime_from_name: Annotated[
        str | None, typer.Option(help=r"regex finding the date in a file name, e.g. (\d{8})")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="take their items out")] = False,
    s3: Annotated[
        bool, typer.Option("--s3", help="COGs to GATEWAY_OUTPUT_S3_URL, as exports")
    ] = False,
) -> None:
    """Add rasters as COGs in the data folder (or S3) to the static catalog (or the STAC API
    of GATEWAY_STAC_URL), or --remove them."""
    from gateway.byod.ingest import IngestOptions
    from gateway.byod.ingest import ingest as ingest_files
    from gateway.runtime import make_storage

    pairs = [pair.split("=", 1) for pair in _pairs(units)]
    if any(len(pair) != 2 for pair in pairs):
        raise typer.BadParameter("--units takes band=unit pairs, e.g. dem=m,slope=deg")
    settings = command_settings()
    catalog = None
    if settings.stac_url:
        from gateway.byod.stac_api import StacApiWriter

        if not s3:
            _fail(GatewayError(STAC_API_NEEDS_S3))
        catalog = StacApiWriter(settings.stac_url, settings.stac_timeout_s)
    _prepare_sample_data(settings)  # first: the sample is written into an empty data folder
    options = IngestOptions(
        collection=collection,
        data_dir=settings.data_dir,
        allowed=settings.allowed_ingest_dirs,
        bands=_pairs(bands),
        units={band.strip(): unit.strip() for band, unit in pairs},
        datetime=datetime,
        datetime_from_name=datetime_from_name,
        catalog=catalog,
        storage=make_storage(settings),
        **(_object_storage(settings) if s3 else {}),
    )
    try:
        with _Bar("remove" if remove else f"ingest into {collection}") as bar:
            report = ingest_files(paths, options, remove=remove, progress=bar)
    except GatewayError as error:
        _fail(error)
        return
    for path, reason in report.failed:
        typer.secho(f"{path}: {reason}", fg=typer.colors.RED, err=True)
    verb = "removed" if remove else "ingested"
    typer.echo(f"{len(report.done)} {verb}, {len(report.failed)} refused ({collection})")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def render(
    output: Annotated[Path, typer.Option("-o", "--output", help="out.png, .jpg, .webp or .tif")],
    bbox: Annotated[str, typer.Option(help="minx,miny,maxx,maxy in the units of --crs")],
    crs: Annotated[str, typer.Option(help="CRS of bbox and output")] = "EPSG:4326",
    size: Annotated[str, typer.Option(help="WIDTHxHEIGHT")] = "512x512",
    layer: Annotated[str | None, typer.Option(help="a configured layer, e.g. NDVI")] = None,
    collection: Annotated[str | None, typer.Option()] = None,
    expression: Annotated[str | None, typer.Option(help='e.g. "(B08-B04)/(B08+B04)"')] = None,
    time: Annotated[str | None, typer.Option(help="start/end, a date or 2025-06")] = None,
    maxcc: Annotated[float | None, typer.Option(help="max cloud cover, 0-100")] = None,
    order: Annotated[str | None, typer.Option(help="mostRecent, leastRecent or leastCC")] = None,
    style: Annotated[str | None, typer.Option()] = None,
    cloud_mask: Annotated[bool | None, typer.Option("--cloud-mask/--no-cloud-mask")] = None,
    orbit_direction: OrbitDirection = None,
    back_coeff: BackCoeff = None,
    noise_removal: NoiseRemoval = None,
) -> None:
    """Render a map from the catalog to a file (PNG picture or float GeoTIFF)."""
    from gateway.core.request import build_request, parse_bbox, parse_format, parse_size
    from gateway.core.sar.calibration import parse_sar_options
    from gateway.runtime import build_runtime

    settings = command_settings()
    try:
        width, height = parse_size(size)
        sar = parse_sar_options(back_coeff, noise_removal, orbit_direction)
        fmt = parse_format(output.suffix.lstrip(".") or "png")
        _prepare_sample_data(settings)
        runtime = build_runtime(settings)
        request = build_request(
            runtime.config,
            bbox=parse_bbox(bbox),
            crs=crs,
            width=width,
            height=height,
            layer=layer,
            collection=collection,
            expression=expression,
            style=style,
            format=fmt,
            time=time,
            maxcc=maxcc,
            order=order,
            cloud_mask=cloud_mask,
            times=runtime.times,
            sar=sar,
        )
        try:
            rendered = runtime.engine.render(request)
        finally:
            runtime.close()  # files queued for indexing are left to the servers
    except GatewayError as error:
        _fail(error)
        return
    output.write_bytes(rendered.content)
    typer.echo(f"{output} ({len(rendered.content)} bytes, {rendered.media_type})")


@app.command()
def seed(
    layer: Annotated[str, typer.Option(help="a configured layer, e.g. NDVI")],
    bbox: Annotated[str, typer.Option(help="west,south,east,north in lon/lat")],
    zoom: Annotated[str, typer.Option(help="zoom levels, e.g. 8-12")],
    time: Annotated[str | None, typer.Option(help="TIME as the WMTS door takes it")] = None,
    maxcc: Annotated[str | None, typer.Option(help="max cloud cover, 0-100")] = None,
    priority: Annotated[str | None, typer.Option(help="mostRecent, leastRecent, leastCC")] = None,
    expression: Annotated[str | None, typer.Option()] = None,
    tile_matrix_set: Annotated[str, typer.Option()] = "WebMercatorQuad",
    workers: Annotated[int, typer.Option(help="tiles rendered at once")] = 2,
    orbit_direction: OrbitDirection = None,
    back_coeff: BackCoeff = None,
    noise_removal: NoiseRemoval = None,
) -> None:
    """Pre-render WMTS tiles into the tile cache (Redis when GATEWAY_REDIS_URL is set)."""
    from gateway.core.request import parse_bbox
    from gateway.core.tiles.seed import parse_zooms
    from gateway.core.tiles.seed import seed as seed_tiles
    from gateway.core.tiles.service import TileParams
    from gateway.runtime import build_runtime

    settings = command_settings()
    if not settings.redis_url:
        typer.secho("GATEWAY_REDIS_URL is not set: tiles go to an in-process cache", err=True)
    params = TileParams(
        time=time, maxcc=maxcc, priority=priority, expression=expression,
        sar=(back_coeff, noise_removal, orbit_direction),
    )  # fmt: skip
    try:
        _prepare_sample_data(settings)
        runtime = build_runtime(settings)
        with _Bar(f"seed {layer}") as bar:
            result = seed_tiles(
                runtime.tiles,
                layer=layer,
                bbox=parse_bbox(bbox),
                zooms=parse_zooms(zoom),
                params=params,
                tile_matrix_set=tile_matrix_set,
                workers=workers,
                progress=bar,
            )
        runtime.close()
    except GatewayError as error:
        _fail(error)
        return
    typer.echo(f"{result.tiles} tiles: {result.rendered} rendered, {result.cached} already cached")


@app.command()
def index(
    collection: Annotated[str, typer.Option(help="a configured collection, e.g. sentinel-2-l2a")],
    time: Annotated[
        str | None, typer.Option(help="the scenes' dates: 2025-06-13, start/end, 2025-06")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(min=1, max=36_500, help="instead of --time: the scenes of the last days"),
    ] = None,
    bbox: Annotated[
        str | None, typer.Option(help="west,south,east,north in lon/lat [default: everywhere]")
    ] = None,
    bands: Annotated[
        str | None,
        typer.Option(help="e.g. B04,B08,SCL [default: the bands the collection's layers read]"),
    ] = None,
    max_scenes: Annotated[int, typer.Option(min=1, help="the newest this many at most")] = 10_000,
) -> None:
    """Make the tile-part indexes of new products' JPEG 2000 files ahead of their first view
    (kept in Redis when GATEWAY_REDIS_URL is set, as the servers keep them)."""
    from datetime import UTC, datetime

    from gateway.core.indexing import acquired, bands_to_index, index_scenes, scene_query
    from gateway.core.request import parse_bbox
    from gateway.runtime import build_runtime

    settings = command_settings()
    if not settings.redis_url:
        typer.secho("GATEWAY_REDIS_URL is not set: the indexes last as long as this command",
                    err=True)  # fmt: skip
    try:
        _prepare_sample_data(settings)
        runtime = build_runtime(settings)
        wanted = bands_to_index(runtime.config, collection, _pairs(bands))
        when = acquired(time, days, datetime.now(UTC))
        query = scene_query(collection, parse_bbox(bbox) if bbox else None, when)
        with _Bar(f"index {collection}") as bar:
            result = index_scenes(
                runtime.engine.catalog,
                runtime.engine.reader,
                query,
                wanted,
                max_scenes=max_scenes,
                progress=bar,
            )
        runtime.close()
    except GatewayError as error:
        _fail(error)
        return
    typer.echo(
        f"{result.scenes} scenes, {result.files} files of {','.join(wanted)}: "
        f"{result.indexed} indexed, {result.known} indexed before, "
        f"{result.as_is} opened as they are, {result.failed} could not be read"
    )
    for path in result.failures:
        typer.secho(f"could not be read: {path}", err=True)
    if result.more:
        typer.secho(f"more than {max_scenes} scenes match: the newest were indexed", err=True)
    if result.stopped:
        typer.secho(f"stopped: {result.stopped}", err=True)
    if result.failed or result.stopped:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    workers: Annotated[int, typer.Option()] = 1,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="proxies whose Forwarded/X-Forwarded-* headers are believed: comma-separated "
            "addresses or networks, * for any [default: GATEWAY_FORWARDED_ALLOW_IPS or 127.0.0.1]"
        ),
    ] = None,
) -> None:
    """Run the HTTP server (on the embedded sample data unless configured otherwise)."""
    import uvicorn

    from gateway.edge.server import STARTED_AT, process_started_at, uvicorn_options

    if forwarded_allow_ips is not None:  # read by create_app, in every worker process
        os.environ["GATEWAY_FORWARDED_ALLOW_IPS"] = forwarded_allow_ips
    settings = command_settings()
    # The first catalog listing's budget counts from this process's start, in every worker.
    os.environ[STARTED_AT] = repr(process_started_at())
    _prepare_sample_data(settings)
    uvicorn.run(
        "gateway.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the app reads them itself, from its trusted proxies only
        **uvicorn_options(settings),
    )


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
