# One image for every mip-mesh process; the role and its config are chosen at start:
#   MIP_ROLE=node|controller|gateway, settings from /etc/mip/<role>.toml (MIP_CONFIG) and
#   MIP_NODE_* / MIP_CONTROLLER_* / MIP_GATEWAY_* environment variables (see the README's configuration tables).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/mip-mesh
COPY pyproject.toml README.md ./
COPY mip_common ./mip_common
COPY mip_node ./mip_node
COPY mip_controller ./mip_controller
COPY mip_gateway ./mip_gateway
COPY mip_client ./mip_client
COPY algorithm_flows ./algorithm_flows
COPY udf_library ./udf_library
RUN pip install --no-cache-dir "./[node,controller,gateway]" \
    && useradd --create-home --uid 10001 mip \
    && mkdir -p /data /etc/mip /var/lib/mip-mesh \
    && chown mip:mip /data /var/lib/mip-mesh

COPY --chmod=755 deploy/entrypoint.sh /usr/local/bin/mip-entrypoint

# The install stays root-owned and read-only to the service user: a node's database goes to
# /data, the controller's state (state_dir, default /var/lib/mip-mesh/controller) to its volume.
USER 10001
VOLUME ["/data", "/var/lib/mip-mesh"]
# 50051: NodeService or ControllerService (gRPC); 9100: Prometheus /metrics
EXPOSE 50051 9100
ENTRYPOINT ["mip-entrypoint"]
