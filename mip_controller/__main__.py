"""``python -m mip_controller --config controller.toml``: run the controller."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from mip_common.errors import MipError
from mip_common.lifetime import die_with_parent_if_asked
from mip_common.logs import configure_logging
from mip_controller.config import load_controller_config
from mip_controller.server import serve


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``mip-controller`` and ``python -m mip_controller``."""
    parser = argparse.ArgumentParser(prog="mip-controller", description="Run the mip-mesh controller.")
    parser.add_argument("--config", type=Path, help="controller TOML file ([controller] table)")
    args = parser.parse_args(argv)
    try:
        die_with_parent_if_asked()
        config = load_controller_config(args.config)
        configure_logging("controller", level=config.log_level, is_json=config.log_json)
        asyncio.run(serve(config))
    except MipError as exc:
        print(f"mip-controller: {exc.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
