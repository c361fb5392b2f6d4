"""Validation and normalisation of the system parameters the module honours.

Each validator takes the raw text value and returns the normalised text to store, or
raises ValueError with a translatable message naming the key and the expected form.
``ir.config_parameter`` calls :func:`normalize_param` on every write path (form, import,
``set_param``), so a wrong value never reaches the code that reads it.
"""
from odoo.tools import LazyTranslate

_lt = LazyTranslate(__name__)

VALIDATORS = {}


def validator(*keys):
    """Register the decorated function as the validator of the given parameter keys."""
    def register(func):
        for key in keys:
            VALIDATORS[key] = func
        return func
    return register


def normalize_param(key, value):
    """Return the value to store for ``key``; values of unknown keys pass unchanged.

    An empty value (False, None, blank) always passes: it means "use the default".
    """
    func = VALIDATORS.get(key)
    if func is None or value is False or value is None or not str(value).strip():
        return value
    return func(key, str(value).strip())


def positive_integer(key, value):
    """A whole number greater than zero."""
    if not value.isdigit() or int(value) <= 0:
        raise ValueError(_lt(
            "System parameter %(key)s must be a whole number greater than zero, not %(value)r.",
            key=key, value=value))
    return str(int(value))


# ---- outgoing routing (mail.default.from_filter, legacy From parameters) ----


@validator("mail.default.from_filter")
def from_filter_param(key, value):
    """A comma-separated list of domains and e-mail addresses."""
    from .from_filter import clean_from_filter, render
    try:
        return clean_from_filter(value) or ""
    except ValueError as exc:
        raise ValueError(_lt("System parameter %(key)s: %(error)s", key=key,
                             error=render(exc.args[0]))) from None


# Odoo < 17 From parameters, honoured again (deprecated in favour of Alias Domains)
LEGACY_FROM_PARAMS = ("mail.force.smtp.from", "mail.dynamic.smtp.from")
# Odoo < 17 alias parameters, which older documentation pages still give: Odoo 18 reads them
# only once, when mail is installed. Written now, they update the company's alias domain
# (parameter -> field of mail.alias.domain).
LEGACY_ALIAS_PARAMS = {
    "mail.catchall.domain": "name",
    "mail.catchall.alias": "catchall_alias",
    "mail.bounce.alias": "bounce_alias",
    "mail.default.from": "default_from",
}


@validator(*LEGACY_FROM_PARAMS)
def single_address_param(key, value):
    """One e-mail address (legacy parameters, deprecated in favour of Alias Domains)."""
    from .from_filter import normalize_address
    try:
        normalize_address(value)
    except ValueError:
        raise ValueError(_lt(
            "System parameter %(key)s must be one e-mail address (name@example.com), not "
            "%(value)r. It is deprecated: prefer the Default From of the Alias Domain.",
            key=key, value=value)) from None
    return value

# ---- bounces (blacklist thresholds) ----

BOUNCE_BLACKLIST_COUNT = "mail_deliverability.bounce_blacklist_count"
BOUNCE_BLACKLIST_PERIOD_DAYS = "mail_deliverability.bounce_blacklist_period_days"
BOUNCE_BLACKLIST_SPREAD_DAYS = "mail_deliverability.bounce_blacklist_spread_days"
BOUNCE_BLACKLIST_DEFAULTS = {
    BOUNCE_BLACKLIST_COUNT: 5,          # hard bounces ...
    BOUNCE_BLACKLIST_PERIOD_DAYS: 30,   # ... within the last month ...
    BOUNCE_BLACKLIST_SPREAD_DAYS: 7,    # ... first and last at least a week apart
}


@validator(BOUNCE_BLACKLIST_COUNT, BOUNCE_BLACKLIST_PERIOD_DAYS)
def bounce_blacklist_positive(key, value):
    """Number of hard bounces / days of the period: a whole number greater than zero."""
    return positive_integer(key, value)


@validator(BOUNCE_BLACKLIST_SPREAD_DAYS)
def bounce_blacklist_spread(key, value):
    """Days between the first and the last hard bounce: a whole number, zero allowed."""
    if not value.isdigit() or int(value) > 3650:
        raise ValueError(_lt(
            "System parameter %(key)s must be a whole number of days from 0 to 3650, not %(value)r.",
            key=key, value=value))
    return str(int(value))


def bounce_blacklist_rule(get_param):
    """(count, period_days, spread_days) from ``get_param(key)``; defaults for empty values."""
    return tuple(read(get_param, key) for key in BOUNCE_BLACKLIST_DEFAULTS)


# ---- gateway guard (loop limits, allowed domains, retention) ----

@validator("mail.gateway.loop.minutes", "mail.gateway.loop.threshold",
           "mail.gateway.quarantine.retention.days")
def gateway_positive_integer(key, value):
    """Loop window, loop threshold and quarantine retention: whole numbers above zero."""
    return positive_integer(key, value)


@validator("mail.catchall.domain.allowed")
def gateway_allowed_domains(key, value):
    """Domains an alias local part may be reached on: trimmed, lower case, IDNA."""
    from .gateway import normalize_domain_list  # noqa: PLC0415 - keep params importable alone
    return normalize_domain_list(key, value)


# ---- incoming servers ----


@validator("mail_deliverability.fetchmail_batch_size", "mail_deliverability.fetchmail_time_budget",
           "mail_deliverability.fetchmail_timeout")
def fetchmail_positive_integer(key, value):
    """Messages per committed batch, seconds per cron run, seconds per network wait."""
    return positive_integer(key, value)

# ---- outgoing queue ----
DEDICATED_FILTER_PARAM = "mail_deliverability.dedicated_server_from_filter"
# read for every batch the queue sends: fetched together, in one query, and cached
SENDING_PARAMS = (
    "mail.mail.queue.batch.size", "mail.session.batch.size", *LEGACY_FROM_PARAMS,
    DEDICATED_FILTER_PARAM,
)

TRUE_WORDS = {"true", "1", "yes", "on", "t", "y"}
FALSE_WORDS = {"false", "0", "no", "off", "f", "n"}


@validator(DEDICATED_FILTER_PARAM)
def boolean_param(key, value):
    """True or False (Odoo's spellings: true/false, 1/0, yes/no, on/off), stored as True or
    False: the sending batch reads it and must never meet another value."""
    word = value.lower()
    if word in TRUE_WORDS:
        return "True"
    if word in FALSE_WORDS:
        return "False"
    raise ValueError(_lt(
        "System parameter %(key)s must be True or False, not %(value)r.", key=key, value=value))


# how long a notification keeps its e-mail's route (server, From, rule)
ROUTE_RETENTION_PARAM = "mail_deliverability.route_retention_days"


@validator(ROUTE_RETENTION_PARAM)
def route_retention_days(key, value):
    """Days the route of each recipient's e-mail is kept on its notification."""
    return positive_integer(key, value)


# ---- DNS checks (resolver) ----
PARAM_DNS_NAMESERVERS = "mail_deliverability.dns_nameservers"
PARAM_DNS_PORT = "mail_deliverability.dns_port"
PARAM_DNS_TIMEOUT = "mail_deliverability.dns_timeout"
DNS_TIMEOUT_MAX = 60


@validator(PARAM_DNS_NAMESERVERS)
def dns_nameservers(key, value):
    """IP addresses of the DNS servers the deliverability check asks (comma-separated)."""
    import ipaddress  # noqa: PLC0415
    servers = [part for part in value.replace(";", ",").replace(" ", ",").split(",") if part]
    for server in servers:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise ValueError(_lt(
                "System parameter %(key)s must list IP addresses of DNS servers separated by "
                "commas (e.g. 192.0.2.53, 2001:db8::53), not %(value)r: %(server)r is not an "
                "IP address.", key=key, value=value, server=server)) from None
    return ", ".join(servers)


@validator(PARAM_DNS_PORT)
def dns_port(key, value):
    """A UDP/TCP port number."""
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(_lt(
            "System parameter %(key)s must be a port number from 1 to 65535, not %(value)r.",
            key=key, value=value))
    return str(int(value))


@validator(PARAM_DNS_TIMEOUT)
def dns_timeout(key, value):
    """Seconds one DNS query may take, more than zero and at most DNS_TIMEOUT_MAX."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1
    if not 0 < seconds <= DNS_TIMEOUT_MAX:
        raise ValueError(_lt(
            "System parameter %(key)s must be a number of seconds greater than 0 and at most "
            "%(max)s (e.g. 3 or 0.5), not %(value)r.", key=key, value=value, max=DNS_TIMEOUT_MAX))
    return f"{seconds:g}"


# ---- outgoing queue ----


@validator("mail_deliverability.queue_max_attempts")
def queue_max_attempts_param(key, value):
    """How many times a temporarily refused e-mail is tried before it fails for good."""
    return positive_integer(key, value)


@validator("mail_deliverability.queue_retry_delays")
def queue_retry_delays_param(key, value):
    """Minutes between attempts, comma-separated (5,15,60,240); the last one repeats."""
    from .smtp_retry import parse_delays
    try:
        return ",".join(str(minutes) for minutes in parse_delays(value))
    except ValueError:
        raise ValueError(_lt(
            "System parameter %(key)s must be minutes between attempts, whole numbers greater "
            "than zero separated by commas (e.g. 5,15,60,240), not %(value)r.",
            key=key, value=value)) from None
# ---- MX gateway (mail_deliverability.mailgate_max_size) ----
@validator("mail_deliverability.mailgate_max_size")
def mailgate_max_size(key, value):
    """Largest message in bytes the MX gateway endpoint processes; larger ones are quarantined."""
    from .mailgate import HARD_MAX_SIZE  # noqa: PLC0415 - keep this section self-contained
    value = positive_integer(key, value)
    if int(value) > HARD_MAX_SIZE:
        raise ValueError(_lt(
            "System parameter %(key)s must be at most %(max)s bytes (Odoo refuses larger HTTP "
            "requests), not %(value)s.", key=key, max=HARD_MAX_SIZE, value=value))
    return value


# ---- bounces (retention of bounce events and their reports) ----
BOUNCE_RETENTION_DAYS = "mail_deliverability.bounce_retention_days"
BOUNCE_RETENTION_DEFAULT = 180


@validator(BOUNCE_RETENTION_DAYS)
def bounce_retention_days(key, value):
    """Days bounce events and their reports are kept: a whole number greater than zero. A
    value below the blocklist period is not refused here (the period may change after it):
    the purge keeps the events at least that long and logs that it did (bounce_retention)."""
    return positive_integer(key, value)


def bounce_retention(get_param):
    """(days kept, blocklist period, whether the setting was raised to that period) from
    ``get_param(key)``: the automatic blocklist counts hard bounces over its period, so the
    purge never keeps fewer days than that, whatever the parameter says."""
    days = read(get_param, BOUNCE_RETENTION_DAYS)
    period = bounce_blacklist_rule(get_param)[1]
    return max(days, period), period, days < period


# ---- DMARC and TLS reports (retention of the reports the receivers send) ----
DMARC_RETENTION_DAYS = "mail_deliverability.dmarc_report_retention_days"
DMARC_RETENTION_DEFAULT = 400  # a year of reports, to compare a month with the same one last year


@validator(DMARC_RETENTION_DAYS)
def dmarc_report_retention_days(key, value):
    """Days DMARC aggregate and TLS reports are kept after their period ends."""
    return positive_integer(key, value)


def dmarc_retention_days(get_param):
    """Days reports are kept, from ``get_param(key)``; the default for an empty or broken value."""
    return read(get_param, DMARC_RETENTION_DAYS)


# ---- defaults: every parameter the module reads, with its default, declared once (None: a
#      text without default) ----
DEFAULTS = {
    # gateway guard
    "mail.gateway.loop.minutes": 120,
    "mail.gateway.loop.threshold": 20,
    "mail.gateway.quarantine.retention.days": 90,
    "mail.catchall.domain.allowed": None,
    # outgoing routing and queue
    "mail.default.from_filter": None,
    LEGACY_FROM_PARAMS[0]: None,
    LEGACY_FROM_PARAMS[1]: None,
    DEDICATED_FILTER_PARAM: True,
    "mail.mail.queue.batch.size": 1000,
    "mail.session.batch.size": 1000,
    "mail_deliverability.queue_max_attempts": 5,
    "mail_deliverability.queue_retry_delays": "5,15,60,240",
    ROUTE_RETENTION_PARAM: 180,
    # incoming servers and the MX gateway
    "mail_deliverability.fetchmail_batch_size": 50,
    "mail_deliverability.fetchmail_time_budget": 240,
    "mail_deliverability.fetchmail_timeout": 60,
    "mail_deliverability.mailgate_max_size": 25 * 1024 * 1024,
    # DNS checks
    PARAM_DNS_NAMESERVERS: None,
    PARAM_DNS_PORT: 53,
    PARAM_DNS_TIMEOUT: 3.0,
    # bounces and reports
    **BOUNCE_BLACKLIST_DEFAULTS,
    BOUNCE_RETENTION_DAYS: BOUNCE_RETENTION_DEFAULT,
    DMARC_RETENTION_DAYS: DMARC_RETENTION_DEFAULT,
}


def read(get_param, key, default=None):
    """The value of ``key`` from ``get_param(key)``, of its default's type (bool, int, float
    or text): checked by its validator, and its declared default (or ``default``, a caller's
    own) when it is empty or invalid (a value written before the module checked it). The one
    reader of the module's parameters: ``ir.config_parameter._md_param`` calls it."""
    default = DEFAULTS[key] if default is None else default
    raw = get_param(key)
    if raw in (False, None) or not str(raw).strip():
        return default
    try:
        text = normalize_param(key, raw)
        if isinstance(default, bool):
            return str(text).strip().lower() in TRUE_WORDS
        if isinstance(default, int):
            number = int(str(text).strip())
            if number <= 0 and key != BOUNCE_BLACKLIST_SPREAD_DAYS:
                return default
            return number
        if isinstance(default, float):
            return float(text)
    except (TypeError, ValueError):
        return default
    return text
