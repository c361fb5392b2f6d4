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

# ---- issue 4: bounces (blacklist thresholds) ----

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
    values = []
    for key, default in BOUNCE_BLACKLIST_DEFAULTS.items():
        raw = get_param(key)
        try:
            values.append(int(normalize_param(key, raw)) if raw not in (False, None, "") else default)
        except (TypeError, ValueError):
            values.append(default)
    return tuple(values)


# ---- issue 5: gateway guard (loop limits, allowed domains, retention) ----

# ---- issue 6: incoming servers ----

# ---- issue 7: DNS checks (resolver) ----

# ---- issue 8: outgoing queue ----
