"""Public corpora read from their published source distributions: each sdist is downloaded
once by pip, pinned (exact version and sha256), into the git-ignored ``.run/cache/`` and read
from the tarball; nothing is copied into the repository.

Plain Python (no Odoo): the tests, the differential runner and dev/bench_dsn.py share it.
"""
import hashlib
import re
import subprocess
import sys
import tarfile
from collections import namedtuple
from pathlib import Path

CACHE = Path(__file__).resolve().parents[1] / ".run" / "cache"

Pinned = namedtuple("Pinned", "project version filename sha256 folder")
# flufl.bounce: Mailman's sample bounces and their expected addresses (tests/)
FLUFL = Pinned("flufl.bounce", "6.0.0", "flufl_bounce-6.0.0.tar.gz",
               "a1df16b9d1877ae4536f7d76c00d8421fcefbe694f80f5285d05c45a2547b1bc", "flufl")
# pyspf: the RFC 7208 test suite (test/rfc7208-tests.yml)
PYSPF = Pinned("pyspf", "2.0.14", "pyspf-2.0.14.tar.gz",
               "57a7ef01bda090173aafb6af0106251686ed73f03db4e911fcd34c57fc347186", "pyspf")


class SdistError(Exception):
    pass


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fetch(pinned, python=sys.executable):
    """The pinned sdist in the cache (downloaded once with pip, hash required); its path."""
    cache = CACHE / pinned.folder
    target = cache / pinned.filename
    if not (target.is_file() and _sha256(target) == pinned.sha256):
        cache.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        req = cache / "requirements.txt"
        req.write_text(f"{pinned.project}=={pinned.version} --hash=sha256:{pinned.sha256}\n")
        result = subprocess.run(
            [python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             "--require-hashes", "-r", str(req), "-d", str(cache)],
            capture_output=True, text=True, timeout=300, check=False)
        if result.returncode or not target.is_file():
            raise SdistError(f"could not download {pinned.filename} into {cache}:\n"
                             f"{result.stdout[-1500:]}{result.stderr[-1500:]}")
    digest = _sha256(target)
    if digest != pinned.sha256:
        raise SdistError(f"{target}: sha256 {digest} is not the pinned {pinned.sha256}")
    return target


def read_members(pinned, sdist, pattern):
    """{first group of ``pattern``: bytes} of the sdist's files whose name matches ``pattern``
    (the sdist checked against its pin again before it is read)."""
    if _sha256(sdist) != pinned.sha256:
        raise SdistError(f"{sdist}: not the pinned {pinned.project} {pinned.version}")
    out = {}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            match = re.search(pattern, member.name)
            if match and member.isfile():
                out[match.group(1)] = tar.extractfile(member).read()
    return dict(sorted(out.items()))
