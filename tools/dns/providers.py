"""Known e-mail providers: the host domains of their servers, their SPF include and the
DKIM selectors they sign with, so that advice names the include or selector to use."""
from dataclasses import dataclass

from .result import dns_name


@dataclass(frozen=True)
class Provider:
    """An e-mail provider: the host domains of its servers, its SPF include, DKIM selectors."""

    name: str
    domains: tuple
    spf_include: str = ""
    dkim_selectors: tuple = ()


PROVIDERS = (
    Provider("Odoo", ("odoo.com",), "_spf.odoo.com", ("odoo",)),
    Provider("Google Workspace", ("google.com", "gmail.com", "googlemail.com"),
             "_spf.google.com", ("google",)),
    Provider("Microsoft 365", ("outlook.com", "office365.com", "microsoft.com"),
             "spf.protection.outlook.com", ("selector1", "selector2")),
    Provider("Amazon SES", ("amazonaws.com", "amazonses.com"), "amazonses.com"),
    Provider("SendGrid", ("sendgrid.net", "sendgrid.com"), "sendgrid.net", ("s1", "s2")),
    Provider("Mailgun", ("mailgun.org", "mailgun.net"), "mailgun.org", ("smtp", "mailo", "krs")),
    Provider("Brevo", ("brevo.com", "sendinblue.com"), "spf.brevo.com", ("mail",)),
    Provider("Mailjet", ("mailjet.com",), "spf.mailjet.com", ("mailjet",)),
    Provider("Postmark", ("postmarkapp.com", "mtasv.net"), "spf.mtasv.net"),
)
GENERIC_DKIM_SELECTORS = ("default", "dkim", "mail")


def provider_of(host):
    """The known provider whose servers ``host`` belongs to, or None."""
    host = dns_name(host)
    for provider in PROVIDERS:
        if any(host == dom or host.endswith("." + dom) for dom in provider.domains):
            return provider
    return None


def suggested_dkim_selectors(hosts=()):
    """DKIM selectors worth trying: those of the providers of ``hosts``, then common ones."""
    selectors = []
    for host in hosts:
        provider = provider_of(host)
        selectors += provider.dkim_selectors if provider else ()
    selectors += GENERIC_DKIM_SELECTORS
    return list(dict.fromkeys(selectors))
