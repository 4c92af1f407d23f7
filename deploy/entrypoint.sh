#!/bin/sh
# Start the process MIP_ROLE names (node or controller) with its TOML config, if one is mounted.
set -eu
role="${MIP_ROLE:-node}"
config="${MIP_CONFIG:-/etc/mip/${role}.toml}"
case "$role" in
    node) command="mip-node" ;;
    controller) command="mip-controller" ;;
    *) echo "mip-entrypoint: MIP_ROLE must be 'node' or 'controller', got '$role'" >&2; exit 2 ;;
esac
if [ -f "$config" ]; then
    exec "$command" --config "$config" "$@"
fi
exec "$command" "$@"
