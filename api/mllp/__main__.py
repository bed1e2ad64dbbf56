"""``python -m api.mllp [--config FILE] [--port N]``: run the MLLP listener alone."""

from __future__ import annotations

import argparse
import asyncio
import logging

from api.mllp.server import MllpServer
from empi.config import load_settings
from empi.runtime import Runtime


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m api.mllp")
    parser.add_argument("--config")
    parser.add_argument("--database-url")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = load_settings(args.config, database_url=args.database_url)
    rt = Runtime.start(settings)
    server = MllpServer(rt, args.host or settings.mllp_host, args.port if args.port is not None else settings.mllp_port)
    try:
        asyncio.run(server.serve_forever())
    except KeyboardInterrupt:
        pass
    finally:
        rt.close()


if __name__ == "__main__":
    main()
