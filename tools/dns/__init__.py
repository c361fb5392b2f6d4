"""DNS checks of an alias domain, one module per record type.

``lookup`` is the module's resolver (every query of a run goes through one cached
:class:`~.lookup.DnsLookup`), ``result`` the verdict objects, ``providers`` the known
e-mail providers; ``spf``, ``dkim``, ``dmarc`` and ``mx`` each judge one record type.
A DNS timeout or SERVFAIL makes a check "unknown", never "error".
"""
from .dkim import evaluate_dkim
from .dmarc import evaluate_dmarc
from .mx import evaluate_mx
from .providers import suggested_dkim_selectors
from .spf import evaluate_spf


def check_domain(setup, lookup):
    """Run the four checks for ``setup`` (a DomainSetup); returns {kind: CheckResult}."""
    spf = evaluate_spf(setup.bounce_domain, lookup, setup.senders)
    dkim = evaluate_dkim(setup.domain, setup.dkim_selectors, lookup,
                         suggested=suggested_dkim_selectors([s.host for s in setup.senders]))
    dmarc = evaluate_dmarc(setup.from_domain, setup.bounce_domain, setup.domain, spf, dkim, lookup)
    mx = evaluate_mx(setup.domain, lookup, setup.incoming, catchall_email=setup.catchall_email)
    return {"spf": spf, "dkim": dkim, "dmarc": dmarc, "mx": mx}
