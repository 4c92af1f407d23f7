"""The mip-mesh controller: ControllerService, the runtime over the nodes, experiments."""

__all__: list[str] = []
