"""Our own sample delivery reports (tests/samples/*.eml), written for this project.

Placeholders ``{{name}}`` are filled by :func:`load_sample` so the same report can speak
about any recipient and original Message-Id.
"""
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent / "samples"
DEFAULTS = {
    "recipient": "ghost@orchard-mail.test",
    "recipient2": "full@hazel.test",
    "recipient3": "fine@hazel.test",
    "message_id": "<orig.1234@sender.test>",
    "bounce_to": "bounce@sender.test",
}


def load_sample(name, **values):
    """Bytes of sample ``name`` with its placeholders filled."""
    text = (SAMPLES / name).read_text(encoding="utf-8")
    for key, value in {**DEFAULTS, **values}.items():
        text = text.replace("{{%s}}" % key, value)
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")


def sample_names():
    return sorted(path.name for path in SAMPLES.glob("*.eml"))
