"""Which other outgoing servers may stand in for one that cannot be reached."""
from .from_filter import order_servers, parse_from_filter


def filter_class(from_filter):
    """Servers with the same FROM filter entries (order and spacing aside) send for the same
    senders: they are interchangeable."""
    return frozenset(parse_from_filter(from_filter, strict=False))


def failover_candidates(failed_id, servers):
    """Active servers of the same FROM filter class as ``failed_id``, by priority."""
    failed = next((srv for srv in servers if srv.id == failed_id), None)
    if failed is None:
        return []
    wanted = filter_class(failed.from_filter)
    return [srv for srv in order_servers(servers)
            if srv.active and srv.id != failed_id and filter_class(srv.from_filter) == wanted]
