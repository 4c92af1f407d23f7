"""The mip-mesh controller: ControllerService, the runtime over the nodes, the CLI and the client."""

__all__: list[str] = []
