"""The inbound corpus, read at run time from where its authors keep it (nothing is copied).

1. Odoo's own test_mail sample messages: ``addons/test_mail/data/test_mail_data.py`` of the
   Odoo source, executed as a module (every module-level ``MAIL_*`` string);
2. flufl.bounce's bounce samples: its source distribution, downloaded pinned (exact version,
   checked sha256) by pip into ``.run/cache/flufl/`` and read from the tarball
   (``tests/sdist_cache.py``);
3. the project's own samples, ``tests/samples/*.eml``, whatever is there.

No Odoo import here: the runner (`run.py`) uses it to fetch the cache, the sides to read.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "tests" / "samples"
sys.path.insert(0, str(ROOT / "tests"))
import sdist_cache  # noqa: E402 - plain module (no Odoo), shared with the tests

CorpusError = sdist_cache.SdistError


def fetch_flufl(python=sys.executable):
    """The pinned flufl.bounce sdist in the cache; its path."""
    return sdist_cache.fetch(sdist_cache.FLUFL, python)


def flufl_samples(sdist):
    """{name: bytes} of every tests/data/*.txt of the sdist."""
    return sdist_cache.read_members(sdist_cache.FLUFL, sdist, r"/tests/data/([^/]+)\.txt$")


def odoo_test_mail_samples(odoo_path):
    """{NAME: str} of the MAIL_* strings of Odoo's test_mail_data.py (executed, not copied)."""
    path = Path(odoo_path) / "addons" / "test_mail" / "data" / "test_mail_data.py"
    namespace = {"__name__": "test_mail_data", "__file__": str(path)}
    exec(compile(path.read_text(), str(path), "exec"), namespace)  # noqa: S102 - Odoo's own file
    return {name: value for name, value in sorted(namespace.items())
            if name.startswith("MAIL_") and isinstance(value, str)}


def project_samples():
    return {path.stem: path.read_bytes() for path in sorted(SAMPLES.glob("*.eml"))}


# --------------------------------------------------------------------------- raw editing
class _Fill(dict):
    def __missing__(self, key):
        return ""


def fill_template(template, **values):
    """Odoo's MockEmail.format with defaults for every placeholder; a template with literal
    braces (not meant to be formatted) is returned as it is."""
    try:
        return template.format_map(_Fill(values))
    except (ValueError, IndexError, KeyError, AttributeError):
        return template


def split_raw(raw):
    """(header lines, separator, body) of a raw message given as bytes."""
    text = raw.decode("latin-1")
    match = re.search(r"\r?\n\r?\n", text)
    if not match:
        return text.splitlines(), "\n\n", ""
    return text[:match.start()].splitlines(), match.group(0), text[match.end():]


def set_headers(raw, **headers):
    """Replace (or remove, value None) top-level headers of ``raw`` (bytes); new ones first.
    Header names: underscores for dashes (In_Reply_To)."""
    lines, sep, body = split_raw(raw)
    names = {name.replace("_", "-").lower(): (name.replace("_", "-"), value)
             for name, value in headers.items()}
    kept, skipping = [], False
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not skipping:
                kept.append(line)
            continue
        name = line.split(":", 1)[0].strip().lower()
        skipping = name in names
        if not skipping:
            kept.append(line)
    # an mbox "From " line must stay first
    head = [kept.pop(0)] if kept and kept[0].startswith("From ") else []
    new = [f"{name}: {value}" for name, value in names.values() if value is not None]
    return "\n".join(head + new + kept).encode("latin-1") + sep.encode() + body.encode("latin-1")


def header(raw, name):
    lines, _sep, _body = split_raw(raw)
    value, found = [], False
    for line in lines:
        if line[:1] in (" ", "\t"):
            if found:
                value.append(line.strip())
            continue
        if found:
            break
        key, _, rest = line.partition(":")
        if key.strip().lower() == name.lower():
            found = True
            value.append(rest.strip())
    return " ".join(value) if found else None
