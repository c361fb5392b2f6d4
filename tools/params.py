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

# ---- issue 5: gateway guard (loop limits, allowed domains, retention) ----

# ---- issue 6: incoming servers ----

# ---- issue 7: DNS checks (resolver) ----

# ---- issue 8: outgoing queue ----

# ---- issue 10: MX gateway (mail_deliverability.mailgate_max_size) ----
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
