#!/usr/bin/env bash
# Debian's Go toolchain, protoc, the Go protobuf/gRPC plugins and libraries, for the generated-client test
# (tests/integration/test_go_client.py). About 20 s; a no-op where they are installed or apt-get is absent.
set -euo pipefail
if command -v go >/dev/null && command -v protoc-gen-go-grpc >/dev/null && dpkg -s golang-github-golang-protobuf-1-5-dev >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null || [ "$(id -u)" != 0 ]; then
    echo "install_codegen_tools: needs root and apt-get; the Go client test will be skipped" >&2
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    golang-go protobuf-compiler protoc-gen-go protoc-gen-go-grpc golang-google-protobuf-dev golang-google-grpc-dev \
    golang-github-golang-protobuf-1-5-dev \
    >/dev/null
