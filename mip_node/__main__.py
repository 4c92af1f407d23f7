"""``python -m mip_node --config node.toml``: run a node."""

from mip_node.cli import main

if __name__ == "__main__":
    main()
