"""A mip-mesh node: NodeService over its own database, next to its data."""

from mip_node.config import NodeConfig, load_node_config

__all__ = ["NodeConfig", "load_node_config"]
