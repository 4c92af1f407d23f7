"""``python -m mip_controller --config controller.toml``: run the controller."""

from __future__ import annotations

from mip_common.service_main import run_service
from mip_controller.config import load_controller_config
from mip_controller.server import serve


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``mip-controller`` and ``python -m mip_controller``."""
    run_service("controller", "Run the mip-mesh controller.", load_controller_config, serve, argv)


if __name__ == "__main__":
    main()
