"""Stream STAC items (JSON lines on standard input) into pgstac with pypgstac's ``Loader``.

Run with the STAC stand-in's venv (``.venv-stac/bin/python bench/pgstac_load.py DSN``): the
project's venv has no pypgstac. Chunks of ``--chunk`` items keep its memory bounded.
"""

from __future__ import annotations

import argparse
import sys


def main() -> None:
    # Here, not at the top: the module imports in the project's venv too (which has no pypgstac).
    from pypgstac.db import PgstacDB
    from pypgstac.load import Loader, Methods

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("dsn")
    parser.add_argument("--chunk", type=int, default=5000)
    args = parser.parse_args()
    with PgstacDB(dsn=args.dsn) as db:
        loader = Loader(db=db)
        loader.load_items(iter(sys.stdin), insert_mode=Methods.insert, chunksize=args.chunk)


if __name__ == "__main__":
    main()
