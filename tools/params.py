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


# ---- issue 3: outgoing routing (mail.default.from_filter, legacy From parameters) ----


@validator("mail.default.from_filter")
def from_filter_param(key, value):
    """A comma-separated list of domains and e-mail addresses."""
    from .from_filter import clean_from_filter, render
    try:
        return clean_from_filter(value) or ""
    except ValueError as exc:
        raise ValueError(_lt("System parameter %(key)s: %(error)s", key=key,
                             error=render(exc.args[0]))) from None


@validator("mail.force.smtp.from", "mail.dynamic.smtp.from")
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

# ---- issue 4: bounces (blacklist thresholds) ----

# ---- issue 5: gateway guard (loop limits, allowed domains, retention) ----

# ---- issue 6: incoming servers ----

# ---- issue 7: DNS checks (resolver) ----

# ---- issue 8: outgoing queue ----


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
