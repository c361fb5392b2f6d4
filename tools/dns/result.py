"""What a DNS check returns: a status from best to worst, the records seen and the advice.

The texts are written in the language of the running check (see :func:`language`), so a
scheduled action and a button click store them in the administrator's language.
"""
import contextlib
import contextvars
from dataclasses import dataclass, field

from odoo.tools import LazyTranslate

from ..from_filter import normalize_domain, render

_lt = LazyTranslate(__name__)
_language = contextvars.ContextVar("mail_deliverability_dns_language", default="en_US")

STATUSES = ("ok", "warning", "unknown", "error")  # from best to worst
_RANK = {status: rank for rank, status in enumerate(STATUSES)}
TXT_CHUNK = 255  # longest character-string in a TXT record (RFC 1035 3.3)


@contextlib.contextmanager
def language(lang):
    """Write the texts of the checks run inside this block in ``lang``."""
    token = _language.set(lang or "en_US")
    try:
        yield
    finally:
        _language.reset(token)


def tr(message):
    """The text of a translatable message in the language of the running check (the module's
    one renderer of lazy strings, ``from_filter.render``)."""
    return str(render(message, _language.get()))


def worst(statuses):
    """The worst of several statuses ("ok" for none)."""
    return max(statuses, key=_RANK.__getitem__, default="ok")


def dns_name(name):
    """A DNS name in the module's one normal form (IDNA, lower case, no final dot).

    Names read from records may be no host name at all (``_spf``, macros, garbage): those
    keep their lower-case text, and DNS answers for them whatever it answers.
    """
    try:
        return normalize_domain(name)
    except ValueError:
        return (name or "").strip().rstrip(".").lower()


def zone_txt(name, text):
    """The zone-file line publishing ``text`` as a TXT record on ``name``; texts longer
    than 255 characters are split into several strings, as DNS requires."""
    chunks = [text[i:i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)] or [""]
    quoted = " ".join('"%s"' % chunk.replace("\\", "\\\\").replace('"', '\\"') for chunk in chunks)
    if len(chunks) > 1:
        quoted = f"( {quoted} )"
    return f"{dns_name(name)}. IN TXT {quoted}"


@dataclass
class CheckResult:
    """What one check found: status, one-line summary, records seen, advice, record to add.

    ``passing`` lists what makes mail pass (DKIM: the selectors with a usable key), for
    the DMARC check that depends on it.
    """

    kind: str
    status: str = "ok"
    summary: str = ""
    records: list = field(default_factory=list)
    advice: list = field(default_factory=list)
    record_to_publish: str = ""
    passing: list = field(default_factory=list)

    def flag(self, status, message):
        """Note a finding as advice; the first of the worst findings is the summary."""
        message = tr(message)
        if status != "ok" and _RANK[status] > _RANK[self.status]:
            self.summary = message
        self.status = worst([self.status, status])
        if message not in self.advice:
            self.advice.append(message)

    def publish(self, line):
        if line and line not in self.record_to_publish.splitlines():
            self.record_to_publish = "\n".join(filter(None, [self.record_to_publish, line]))

    def advice_text(self):
        """Advice as one text, ending with the exact record(s) to publish."""
        text = "\n".join(f"- {line}" for line in self.advice)
        if self.record_to_publish:
            text += "\n\n" + tr(_lt("Record to publish:")) + "\n" + self.record_to_publish
        return text.strip()


@dataclass
class Sender:
    """An outgoing server sending for the domain (``label`` names it in the advice)."""

    label: str
    host: str


@dataclass
class Incoming:
    """An incoming server Odoo fetches from (kind: imap, pop or local)."""

    label: str
    host: str
    kind: str = "imap"


@dataclass
class DomainSetup:
    """What Odoo sends and receives for one alias domain."""

    domain: str
    from_domain: str = ""
    bounce_domain: str = ""
    catchall_email: str = ""
    senders: list = field(default_factory=list)
    dkim_selectors: list = field(default_factory=list)
    incoming: list = field(default_factory=list)

    def __post_init__(self):
        self.domain = dns_name(self.domain)
        self.from_domain = dns_name(self.from_domain) or self.domain
        self.bounce_domain = dns_name(self.bounce_domain) or self.domain
        self.catchall_email = self.catchall_email or f"catchall@{self.domain}"
