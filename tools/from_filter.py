"""Outgoing routing as Odoo's e-mail documentation describes it, in plain functions.

A FROM filter is a comma-separated list of domains and full addresses (case-insensitive,
internationalised domains accepted). :func:`choose_server` picks the server and the From for
a sender with the six documented rules and says why, so that the models only have to read the
server list once and record the answer.
"""
import functools
import re
from dataclasses import dataclass, field
from email.utils import getaddresses

import idna

from odoo.tools import LazyTranslate, formataddr
from odoo.tools.translate import LazyGettext

_lt = LazyTranslate(__name__)

RULES = {
    1: _lt("Sender's address is in the server's FROM filter"),
    2: _lt("Sender's domain is in the server's FROM filter"),
    3: _lt("Notification address is in the server's FROM filter: the From becomes the "
           "notification address"),
    4: _lt("Server without FROM filter: the From becomes the notification address"),
    5: _lt("No FROM filter admits the sender: first server by priority, the From becomes the "
           "notification address"),
    6: _lt("No outgoing mail server: the SMTP server of Odoo's configuration file"),
}


# characters that may break a header or an address: control characters and line breaks
_HEADER_BREAKING = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")
_LOCAL_PART = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


def render(value, lang=None):
    """Text of a (possibly lazy) translated message in ``lang``; Odoo renders lazy arguments
    nested in it in the same language."""
    if isinstance(value, LazyGettext):
        return value._translate(lang or "en_US")
    return value


@functools.lru_cache(maxsize=4096)
def normalize_domain(domain):
    """ASCII (punycode) lower-case form of a domain, or raise ValueError."""
    domain = (domain or "").strip().rstrip(".")
    if not domain:
        raise ValueError(_lt("An empty domain is not a domain."))
    try:
        ascii_domain = idna.encode(domain.lower(), uts46=True, std3_rules=False).decode()
    except (idna.IDNAError, UnicodeError):
        ascii_domain = domain.lower() if domain.isascii() else ""
    labels = ascii_domain.split(".")
    if not ascii_domain or len(ascii_domain) > 253 or not all(_LABEL.match(lab) for lab in labels):
        raise ValueError(_lt("%(domain)r is not a valid domain name.", domain=domain))
    return ascii_domain


def normalize_address(address):
    """``local@domain`` lower-case with an ASCII domain, or raise ValueError."""
    address = (address or "").strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or not _LOCAL_PART.match(local) or ".." in local \
            or local.startswith(".") or local.endswith("."):
        raise ValueError(_lt("%(address)r is not a valid e-mail address.", address=address))
    return f"{local.lower()}@{normalize_domain(domain)}"


def parse_entry(entry):
    """One FROM filter entry as ("address" | "domain", normalised value); ValueError names it."""
    entry = entry.strip()
    try:
        if "@" in entry:
            return "address", normalize_address(entry)
        return "domain", normalize_domain(entry)
    except ValueError:
        raise ValueError(_lt(
            "FROM filter entry %(entry)r is neither a domain (example.com) nor an e-mail "
            "address (name@example.com).", entry=entry)) from None


@functools.lru_cache(maxsize=4096)
def parse_from_filter(text, strict=True):
    """Entries of a FROM filter, in order; empty parts are ignored.

    ``strict=False`` skips invalid entries (data written before validation existed).
    """
    entries = []
    for part in (text or "").split(","):
        if not part.strip():
            continue
        try:
            entries.append(parse_entry(part))
        except ValueError:
            if strict:
                raise
    return tuple(entries)


def clean_from_filter(text):
    """Validated FROM filter text: entries stripped, joined by ", "; False when empty."""
    parts = [part.strip() for part in (text or "").split(",") if part.strip()]
    for part in parts:
        parse_entry(part)
    return ", ".join(parts) or False


@functools.lru_cache(maxsize=4096)
def split_sender(sender):
    """(display name, normalised address or "", domain or "") of a From value."""
    sender = sanitize_header_value(sender or "")
    pairs = [(name, addr) for name, addr in getaddresses([sender]) if addr]
    if not pairs:
        return "", "", ""
    name, addr = pairs[0]
    try:
        address = normalize_address(addr)
    except ValueError:
        return name, "", ""
    return name, address, address.rpartition("@")[2]


def match_kind(sender, entries):
    """1 when ``entries`` list the sender's address, 2 its domain, 0 otherwise."""
    _name, address, domain = split_sender(sender)
    if not address:
        return 0
    if ("address", address) in entries:
        return 1
    if ("domain", domain) in entries:
        return 2
    return 0


def match_from_filter(sender, from_filter):
    """Whether a FROM filter admits the sender; an empty filter admits everybody."""
    entries = parse_from_filter(from_filter, strict=False) if isinstance(from_filter, str) \
        else tuple(from_filter or ())
    if not entries:
        return True
    return bool(match_kind(sender, entries))


def sanitize_header_value(value):
    """The value with line breaks and control characters turned into single spaces."""
    return _HEADER_BREAKING.sub(" ", value or "").strip()


def has_header_breaking(value):
    return bool(_HEADER_BREAKING.search(value or ""))


@functools.lru_cache(maxsize=4096)
def _raw_address(value):
    """The first address of a From value as written (case kept), or ""."""
    pairs = [addr for _name, addr in getaddresses([sanitize_header_value(value)]) if addr]
    return pairs[0] if pairs else ""


@functools.lru_cache(maxsize=4096)
def format_sender(sender):
    """A From value safe for a header: display name without line breaks, or "" if no
    valid address can be found in it."""
    name, address, _domain = split_sender(sender)
    if not address:
        return ""
    original = _raw_address(sender)
    return formataddr((sanitize_header_value(name), original)) if name else original


@functools.lru_cache(maxsize=4096)
def encapsulate(sender, address):
    """``address`` as From, keeping the sender's display name (else its local part)."""
    if not split_sender(address)[1]:
        return ""
    target = _raw_address(address)
    name = split_sender(sender)[0]
    if not name:
        raw = _raw_address(sender)
        name = raw.rpartition("@")[0] or raw
    return formataddr((sanitize_header_value(name), target)) if name else target


def sent_from(original, decided):
    """The From header an e-mail leaves with: ``decided`` under the sender's name when it
    replaces the address, else the original From, tidied ("" when unusable)."""
    if decided and not same_address(original, decided):
        return encapsulate(original, decided)
    return format_sender(original)


def same_address(first, second):
    a, b = split_sender(first)[1], split_sender(second)[1]
    return bool(a) and a == b


@dataclass(frozen=True)
class Server:
    """What routing needs to know of an ``ir.mail_server`` (read once per batch)."""
    id: int
    name: str
    sequence: int = 10
    from_filter: str = ""
    active: bool = True

    @property
    def entries(self):
        return parse_from_filter(self.from_filter, strict=False)

    def sort_key(self):
        return (self.sequence, (self.name or "").casefold(), self.id)


def order_servers(servers):
    """Documented order: lowest Priority first, equal priorities by name, alphabetically."""
    return sorted(servers, key=Server.sort_key)


@dataclass
class Decision:
    """The server (None: configuration file), the From to send with, the rule that fired and
    why each other server was passed over."""
    server_id: object
    email_from: str
    rule: int
    rewritten: bool
    reasons: list = field(default_factory=list)
    passed_over: dict = field(default_factory=dict)

    def explanation(self, lang=None):
        return "\n".join(str(render(reason, lang)) for reason in self.reasons)

    def passed_over_lines(self, servers, lang=None):
        return [f"{srv.name}: {render(self.passed_over[srv.id], lang)}"
                for srv in order_servers(servers) if srv.id in self.passed_over]


def overridden_decision(decision, server_id, email_from):
    """``decision`` as another module's ``_find_mail_server`` changed it: its server and From,
    said in the explanation."""
    return Decision(server_id, email_from, decision.rule, decision.rewritten or email_from != decision.email_from,
                    [*decision.reasons, _lt("Another module's routing (ir.mail_server._find_mail_server) "
                                           "chose this server and the From %(email_from)s instead.",
                                           email_from=email_from)], dict(decision.passed_over))


def apply_legacy_parameters(sender, force_from=None, dynamic_from=None, authorised_domains=()):
    """Rewrite the sender as the legacy ``mail.force.smtp.from`` / ``mail.dynamic.smtp.from``
    parameters ask; returns (sender, reason or None)."""
    if force_from and split_sender(force_from)[1]:
        if same_address(sender, force_from):
            return sender, None
        return encapsulate(sender, force_from), _lt(
            "Legacy parameter mail.force.smtp.from forces every From to %(address)s "
            "(deprecated: use the Default From of the Alias Domain).", address=force_from)
    if dynamic_from and split_sender(dynamic_from)[1]:
        domains = {split_sender(dynamic_from)[2]}
        for domain in authorised_domains or ():
            try:
                domains.add(normalize_domain(domain))
            except ValueError:
                continue
        if split_sender(sender)[2] in domains:
            return sender, None
        return encapsulate(sender, dynamic_from), _lt(
            "Legacy parameter mail.dynamic.smtp.from: the sender's domain is not authorised, "
            "so the From becomes %(address)s (deprecated: use the FROM filters and the Default "
            "From of the Alias Domain).", address=dynamic_from)
    return sender, None


def _describe(server):
    return _lt("%(name)s (Priority %(priority)s)", name=server.name, priority=server.sequence)


def _shown_filter(value):
    """A FROM filter as shown in an explanation: quoted, or "none" when empty."""
    return _lt("“%(filter)s”", filter=value) if value else _lt("none (any sender)")


def _fit(rule, from_filter):
    """How one server fits the sender, by the rule it would give (a server passed over)."""
    shown = _shown_filter(from_filter)
    if rule == 1:
        return _lt("its FROM filter %(filter)s lists the sender's address", filter=shown)
    if rule == 2:
        return _lt("its FROM filter %(filter)s lists the sender's domain", filter=shown)
    if rule == 3:
        return _lt("its FROM filter %(filter)s lists the notification address", filter=shown)
    if rule == 4:
        return _lt("it has no FROM filter")
    return _lt("its FROM filter %(filter)s lists neither the sender nor the notification address",
               filter=shown)


def choose_server(  # noqa: C901 - the documented routing rules, in their order
        sender, servers, notification_email=None, default_from_filter=None,
        forced_server_id=None, filter_forced=True, open_keeps_from=False):
    """Pick the server and the From for ``sender`` following the documented rules.

    ``servers``: :class:`Server` items, archived ones included only to explain that they are
    skipped. ``forced_server_id``: a server set on the e-mail itself (e.g. the Dedicated Server
    of a mailing): it is kept, and its FROM filter still decides whether the From is kept
    unless ``filter_forced`` is False (a server set by code on a transactional e-mail).
    ``open_keeps_from``: a server without FROM filter sends the From as it is (the legacy From
    parameters decided it already), instead of the notification address.
    """
    ordered = order_servers(servers)
    active = [server for server in ordered if server.active]
    _name, address, domain = split_sender(sender)
    notification = split_sender(notification_email)[1] if notification_email else ""
    rewritten_from = notification or sender
    passed = {server.id: _lt("archived: archived servers are never used")
              for server in ordered if not server.active}

    if forced_server_id:
        server = next((srv for srv in ordered if srv.id == forced_server_id), None)
        if server:
            return _choose_forced(sender, server, notification, ordered, passed, filter_forced)

    candidates = []  # (rule, server, From)
    for server in active:
        entries = server.entries
        kind = match_kind(sender, entries) if address else 0
        if kind:
            candidates.append((kind, server, sender))
        elif notification and match_kind(notification, entries):
            candidates.append((3, server, notification))
        elif not entries:
            candidates.append((4, server, sender if open_keeps_from else rewritten_from))
        else:
            candidates.append((5, server, rewritten_from))
    # within rule 3, an exact notification address comes before its domain
    def rank(candidate):
        rule, server, _from = candidate
        sub = 0
        if rule == 3:
            sub = 0 if match_kind(notification, server.entries) == 1 else 1
        return (rule, sub)

    if candidates:
        best = min(candidates, key=rank)  # min is stable: keeps the documented order
        rule, chosen, email_from = best
        for cand in candidates:
            other = cand[1]
            if other is chosen:
                continue
            if rank(cand) == rank(best):
                passed[other.id] = _lt(
                    "fits as well (%(label)s, Rule %(rule)s) but %(chosen)s comes first: "
                    "lowest Priority first, then name", label=RULES[rule], rule=rule,
                    chosen=_describe(chosen))
            else:
                passed[other.id] = _lt(
                    "%(fit)s (Rule %(other)s); the chosen server fits Rule %(rule)s, which "
                    "comes first", fit=_fit(cand[0], other.from_filter), other=cand[0], rule=rule)
        rewritten = rule >= 3 and not same_address(email_from, sender)
        reasons = [_lt("%(label)s (Rule %(rule)s).", rule=rule, label=RULES[rule]),
                   _lt("Server: %(server)s; FROM filter: %(filter)s.",
                       server=_describe(chosen), filter=_shown_filter(chosen.from_filter))]
        if rule == 4 and open_keeps_from:
            reasons.append(_lt("A legacy From parameter is set: a server without FROM filter "
                               "sends the From it decided, not the notification address."))
        elif rule >= 3 and not notification:
            reasons.append(_lt("No notification address (Default From of the alias domain): "
                               "the From is kept as is."))
        return Decision(chosen.id, email_from, rule, rewritten, reasons, passed)

    # rule 6: the configuration-file server and its default FROM filter
    entries = parse_from_filter(default_from_filter, strict=False)
    if not entries or (address and match_kind(sender, entries)):
        email_from, why = sender, _lt(
            "Its FROM filter (mail.default.from_filter or --from-filter) is %(filter)s: it "
            "admits the sender.", filter=_shown_filter(default_from_filter))
    elif notification and match_kind(notification, entries):
        email_from, why = notification, _lt(
            "Its FROM filter (mail.default.from_filter or --from-filter) is %(filter)s: it does "
            "not admit the sender but admits the notification address.",
            filter=_shown_filter(default_from_filter))
    else:
        email_from, why = rewritten_from, _lt(
            "Its FROM filter (mail.default.from_filter or --from-filter) is %(filter)s: it "
            "admits neither the sender nor the notification address.",
            filter=_shown_filter(default_from_filter))
    reasons = [_lt("%(label)s (Rule 6).", label=RULES[6]), why]
    return Decision(None, email_from, 6, not same_address(email_from, sender), reasons, passed)


def _choose_forced(sender, server, notification, ordered, passed, filter_forced=True):
    for other in ordered:
        if other.id != server.id and other.id not in passed:
            passed[other.id] = _lt("the e-mail names its own server %(server)s",
                                   server=_describe(server))
    entries = server.entries
    kind = match_kind(sender, entries)
    intro = _lt("Server %(server)s is set on the e-mail (e.g. a mailing's Dedicated Server); "
                "its FROM filter, %(filter)s, still decides the From.",
                server=_describe(server), filter=_shown_filter(server.from_filter))
    if kind:
        rule, email_from = kind, sender
    elif not entries:
        # documented: "If FROM filtering is not used, emails will go out using the
        # notification address"; a server set by code keeps the From (below)
        rule, email_from = 4, (notification or sender) if filter_forced else sender
    elif notification and match_kind(notification, entries):
        rule, email_from = 3, notification
    else:
        rule, email_from = 5, notification or sender
    if not filter_forced and rule in (3, 5):
        email_from = sender
        intro = _lt("Server %(server)s is set on the e-mail itself: the From is kept as is even "
                    "though its FROM filter, %(filter)s, does not list it.",
                    server=_describe(server), filter=_shown_filter(server.from_filter))
        reasons = [_lt("Server set on the e-mail itself (Rule %(rule)s).", rule=rule), intro]
        return Decision(server.id, email_from, rule, False, reasons, passed)
    reasons = [_lt("%(label)s (Rule %(rule)s).", rule=rule, label=RULES[rule]), intro]
    if rule == 4 and not notification:
        reasons.append(_lt("No notification address (Default From of the alias domain): "
                           "the From is kept as is."))
    return Decision(server.id, email_from, rule, not same_address(email_from, sender),
                    reasons, passed)
