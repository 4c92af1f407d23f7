#!/bin/sh
# Start the process MIP_ROLE names (node, controller or gateway) with its TOML config, if one is mounted.
set -eu
role="${MIP_ROLE:-node}"
config="${MIP_CONFIG:-/etc/mip/${role}.toml}"
case "$role" in
    node) command="mip-node" ;;
    controller) command="mip-controller" ;;
    gateway) command="mip-gateway" ;;
    *) echo "mip-entrypoint: MIP_ROLE must be 'node', 'controller' or 'gateway', got '$role'" >&2; exit 2 ;;
esac
if [ -f "$config" ]; then
    exec "$command" --config "$config" "$@"
fi
exec "$command" "$@"
