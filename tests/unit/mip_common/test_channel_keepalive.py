"""Our servers accept the keepalive pings our channels send.

gRPC's server defaults refuse pings more often than every 5 minutes and any ping on a
connection without calls: a controller channel pinging every 30 s was sent GOAWAY
(ENHANCE_YOUR_CALM, "too_many_pings") by the nodes during long benchmark runs.
"""

from __future__ import annotations

from mip_common.channels import CHANNEL_OPTIONS, SERVER_OPTIONS


def test_servers_accept_pings_as_often_as_channels_send_them() -> None:
    # Arrange
    channel, server = dict(CHANNEL_OPTIONS), dict(SERVER_OPTIONS)

    # Act
    interval = server.get("grpc.http2.min_recv_ping_interval_without_data_ms", 300_000)

    # Assert
    assert interval <= channel["grpc.keepalive_time_ms"]
    assert server.get("grpc.keepalive_permit_without_calls", 0) >= channel["grpc.keepalive_permit_without_calls"]
