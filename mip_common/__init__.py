"""What node and controller share: generated code, errors and statuses, Arrow chunks, channels."""

from mip_common import errors
from mip_common.version import VERSION

__all__ = ["VERSION", "errors"]
