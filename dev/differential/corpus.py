"""The inbound corpus, read at run time from where its authors keep it (nothing is copied).

1. Odoo's own test_mail sample messages: ``addons/test_mail/data/test_mail_data.py`` of the
   Odoo source, executed as a module (every module-level ``MAIL_*`` string);
2. flufl.bounce's bounce samples: its source distribution, downloaded pinned (exact version,
   checked sha256) by pip into ``.run/cache/flufl/`` and read from the tarball;
3. the project's own samples, ``tests/samples/*.eml``, whatever is there.

No Odoo import here: the runner (`run.py`) uses it to fetch the cache, the sides to read.
"""
import hashlib
import re
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".run" / "cache" / "flufl"
FLUFL_VERSION = "6.0.0"
FLUFL_SDIST = f"flufl_bounce-{FLUFL_VERSION}.tar.gz"
FLUFL_SHA256 = "a1df16b9d1877ae4536f7d76c00d8421fcefbe694f80f5285d05c45a2547b1bc"
SAMPLES = ROOT / "tests" / "samples"


class CorpusError(Exception):
    pass


def fetch_flufl(python=sys.executable):
    """The pinned sdist in the cache (downloaded once with pip, hash required); its path."""
    target = CACHE / FLUFL_SDIST
    if not (target.is_file() and _sha256(target) == FLUFL_SHA256):
        CACHE.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        req = CACHE / "requirements.txt"
        req.write_text(f"flufl.bounce=={FLUFL_VERSION} --hash=sha256:{FLUFL_SHA256}\n")
        result = subprocess.run(
            [python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             "--require-hashes", "-r", str(req), "-d", str(CACHE)],
            capture_output=True, text=True)
        if result.returncode or not target.is_file():
            raise CorpusError(f"could not download {FLUFL_SDIST} into {CACHE}:\n"
                              f"{result.stdout[-1500:]}{result.stderr[-1500:]}")
    digest = _sha256(target)
    if digest != FLUFL_SHA256:
        raise CorpusError(f"{target}: sha256 {digest} is not the pinned {FLUFL_SHA256}")
    return target


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def flufl_samples(sdist):
    """{name: bytes} of every tests/data/*.txt of the sdist (checked again before reading)."""
    if _sha256(Path(sdist)) != FLUFL_SHA256:
        raise CorpusError(f"{sdist}: not the pinned flufl.bounce {FLUFL_VERSION}")
    out = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            match = re.search(r"/tests/data/([^/]+)\.txt$", member.name)
            if match and member.isfile():
                out[match.group(1)] = tar.extractfile(member).read()
    return dict(sorted(out.items()))


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
