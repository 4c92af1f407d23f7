"""The software version every process reports."""

from importlib import metadata

__all__ = ["VERSION"]

try:
    VERSION = metadata.version("mip-mesh")
except metadata.PackageNotFoundError:  # running from a checkout without install
    VERSION = "0.0.0+checkout"
