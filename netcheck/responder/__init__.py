"""`netcheck serve`: the VPC-side responder (wire protocol: docs/responder-protocol.md).

core: lifecycle, connection table, accept loop, dispatch by first byte; conn: the
configuration, one connection, the log, address helpers; auth: the token; control: JSON
requests (hello, echo, connect-back); iperf: bandwidth tests; udp: datagram echo;
limits: budgets, capacity and the bandwidth-test slots.
"""

from netcheck.responder.conn import DEFAULT_PORT, IPERF_PORT, Log, ServeConfig, json_logger
from netcheck.responder.core import Responder, serve
from netcheck.responder.limits import Capacity, RateLimiter, auto_capacity

__all__ = ["DEFAULT_PORT", "IPERF_PORT", "Capacity", "Log", "RateLimiter", "Responder", "ServeConfig",
           "auto_capacity", "json_logger", "serve"]
