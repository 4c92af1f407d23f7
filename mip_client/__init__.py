"""The researcher's side of mip-mesh: the ``mip`` command, the Python client, pipelines, plots, a local federation."""

__all__: list[str] = []
