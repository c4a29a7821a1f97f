"""`netcheck serve`: the VPC-side responder (wire protocol: docs/responder-protocol.md).

core: lifecycle, connection table, accept loop; control: JSON requests (hello, echo,
connect-back); iperf: bandwidth tests and their slots; udp: datagram echo; limits:
budgets and capacity.
"""

from netcheck.responder.core import DEFAULT_PORT, IPERF_PORT, Log, Responder, ServeConfig, json_logger, serve
from netcheck.responder.limits import Capacity, RateLimiter, auto_capacity

__all__ = ["DEFAULT_PORT", "IPERF_PORT", "Capacity", "Log", "RateLimiter", "Responder", "ServeConfig",
           "auto_capacity", "json_logger", "serve"]
