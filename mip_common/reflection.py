"""Server reflection that keeps the .proto comments, so ``grpcurl describe`` shows the documentation.

grpc's reflection servicer rebuilds each file descriptor with ``CopyToProto``, which drops the
source info (and with it every comment). ``scripts/gen_protos.py`` writes the contract's file
descriptors with source info to ``_proto/descriptors.binpb``; this servicer answers with those
bytes for our files, and as grpc does for the rest (the well-known types).
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection, reflection_pb2, reflection_pb2_grpc

__all__ = ["enable_reflection"]

_DESCRIPTORS = "descriptors.binpb"


def _documented_files() -> dict[str, bytes]:
    """Serialized FileDescriptorProtos with source info, by file name ("mip/v1/common.proto")."""
    path = resources.files("mip_common._proto").joinpath(_DESCRIPTORS)
    if not path.is_file():
        return {}
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    return {f.name: f.SerializeToString() for f in descriptor_set.file}


class _DocumentedReflectionServicer(reflection.aio.ReflectionServicer):  # type: ignore[misc]
    def __init__(self, service_names: list[str]) -> None:
        super().__init__(service_names)
        self._documented = _documented_files()

    def _file_by_filename(self, request: Any, filename: str) -> Any:
        try:
            return self._response(self._pool.FindFileByName(filename), request)
        except KeyError:
            return super()._file_by_filename(request, filename)

    def _file_containing_symbol(self, request: Any, fully_qualified_name: str) -> Any:
        try:
            return self._response(self._pool.FindFileContainingSymbol(fully_qualified_name), request)
        except KeyError:
            return super()._file_containing_symbol(request, fully_qualified_name)

    def _response(self, descriptor: Any, request: Any) -> Any:
        files: dict[str, Any] = {}
        pending = [descriptor]
        while pending:
            current = pending.pop()
            if current.name not in files:
                files[current.name] = current
                pending.extend(current.dependencies)
        serialized = []
        for name, file in files.items():
            if name in self._documented:
                serialized.append(self._documented[name])
            else:
                proto = descriptor_pb2.FileDescriptorProto()
                file.CopyToProto(proto)
                serialized.append(proto.SerializeToString())
        return reflection_pb2.ServerReflectionResponse(
            file_descriptor_response=reflection_pb2.FileDescriptorResponse(file_descriptor_proto=serialized),
            original_request=request,
        )


def enable_reflection(service_names: list[str], server: grpc.aio.Server) -> None:
    """Serve ``grpc.reflection.v1alpha`` for ``service_names``, comments included."""
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(_DocumentedReflectionServicer(service_names), server)
