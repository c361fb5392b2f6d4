"""MX: where mail for the catchall goes, and whether it reaches the mailbox that Odoo's
incoming servers fetch."""
from odoo.tools import LazyTranslate

from .lookup import is_ip, organisational_domain
from .providers import provider_of
from .result import CheckResult, dns_name, tr

_lt = LazyTranslate(__name__)


def evaluate_mx(domain, lookup, incoming=(), catchall_email=""):
    """MX of ``domain`` (where the catchall is) and, with incoming servers, whether mail
    to the catchall reaches the mailbox they fetch or must be forwarded there."""
    domain = dns_name(domain)
    catchall_email = catchall_email or f"catchall@{domain}"
    result = CheckResult("mx")
    answer = lookup.mx(domain)
    fetched = [server for server in incoming if server.kind != "local" and server.host]
    if answer.status == "unknown":
        result.flag("unknown", _lt("The MX records of %(domain)s could not be read: %(error)s.",
                                   domain=domain, error=answer.error))
        return result
    target = dns_name(fetched[0].host) + "." if fetched else tr(_lt(
        "<host name of the server receiving mail for %(domain)s>", domain=domain))
    if not answer.ok or not answer.values:
        result.flag("error", _lt(
            "%(domain)s has no MX record: replies to %(catchall)s and bounces cannot reach any "
            "mailbox. Publish an MX record pointing at the server that receives mail for "
            "%(domain)s.", domain=domain, catchall=catchall_email))
        result.publish(f"{domain}. IN MX 10 {target}")
        return result
    for preference, host in answer.values:
        result.records.append(f"{domain}. IN MX {preference} {host or '.'}.")
    hosts = [host for _pref, host in answer.values if host]
    if not hosts:
        result.flag("error", _lt(
            "%(domain)s publishes a null MX: it refuses all mail, so replies to %(catchall)s are "
            "lost.", domain=domain, catchall=catchall_email))
        result.publish(f"{domain}. IN MX 10 {target}")
        return result
    if not incoming:
        result.flag("ok", _lt(
            "No incoming mail server is configured: mail to %(catchall)s goes to %(hosts)s and "
            "reaches Odoo only if that server forwards it to Odoo or pipes it to the odoo-mailgate "
            "script.", catchall=catchall_email, hosts=", ".join(hosts)))
    for server in incoming:
        if server.kind == "local" or not server.host:
            result.flag("ok", _lt(
                "Incoming server %(server)s reads mail piped by the mail server (odoo-mailgate): "
                "%(hosts)s must run that script for %(catchall)s.", server=server.label,
                hosts=", ".join(hosts), catchall=catchall_email))
            continue
        _judge_incoming(result, domain, lookup, hosts, server, catchall_email)
    if result.status == "ok" and not result.summary:
        result.summary = tr(_lt("MX: %(hosts)s.", hosts=", ".join(hosts)))
    return result


def _judge_incoming(result, domain, lookup, hosts, server, catchall_email):
    host = dns_name(server.host)
    provider = provider_of(host)
    if host in hosts:
        how = tr(_lt("same host"))
    elif provider and any(provider_of(mx) == provider for mx in hosts):
        how = tr(_lt("same provider, %(provider)s", provider=provider.name))
    elif not is_ip(host) and any(organisational_domain(mx) == organisational_domain(host) for mx in hosts):
        how = tr(_lt("same provider, %(org)s", org=organisational_domain(host)))
    else:
        fetched_addresses = lookup.addresses(host)
        mx_addresses = [lookup.addresses(mx) for mx in hosts]
        shared = set(fetched_addresses.values) & {ip for a in mx_addresses for ip in a.values}
        if shared:
            how = tr(_lt("same host, address %(ip)s", ip=", ".join(sorted(shared))))
        elif fetched_addresses.status == "unknown" or any(a.status == "unknown" for a in mx_addresses):
            result.flag("unknown", _lt(
                "Whether mail for %(catchall)s reaches the mailbox that %(server)s fetches is "
                "unknown: DNS did not answer in time.", catchall=catchall_email, server=server.label))
            return
        else:
            result.flag("warning", _lt(
                "Mail for %(catchall)s is delivered to %(hosts)s, but incoming server %(server)s "
                "fetches a mailbox on %(host)s: make sure %(hosts)s forwards %(catchall)s to that "
                "mailbox (forwarding), or point the MX of %(domain)s at %(host)s.",
                catchall=catchall_email, hosts=", ".join(hosts), server=server.label, host=host,
                domain=domain))
            return
    result.flag("ok", _lt(
        "Mail for %(catchall)s reaches the mailbox fetched by %(server)s (%(how)s).",
        catchall=catchall_email, server=server.label, how=how))
