#!/usr/bin/env python3
"""Hand one incoming e-mail from a mail server (Postfix, Exim) to an Odoo database.

The mail server runs this command once per message and recipient, with the raw message on
standard input.  It posts the message to the addon's endpoint
``/mail_deliverability/mailgate``, authenticated by the API key of a user in the group
*Mail Gateway (MX delivery)*, and passes the envelope recipient so that Odoo routes
Bcc'd and mailing-list messages to the right alias.  Python 3 standard library only.

Exit status (sysexits, as mail servers read them):

* 0  -- the database committed the message, or kept it in its quarantine (malformed,
  oversize or unroutable messages, and messages for an envelope recipient Odoo cannot use,
  are kept there, never dropped: these are permanent conditions, retrying changes nothing),
  or already had it for the same destination;
* 75 (EX_TEMPFAIL) -- anything else: Odoo unreachable, busy, timing out or answering 5xx,
  and also refused credentials (401/403) and configuration mistakes.  sysexits would call
  refused credentials permanent (77, EX_NOPERM), but a permanent status makes the mail
  server bounce or discard the message, and a wrong key is the administrator's mistake,
  not the sender's: with 75 the message stays in the mail server's queue and is delivered
  once the key is fixed (``postqueue -f``), until the queue lifetime runs out.

The API key is never taken from the command line (visible in ``ps``): it is read from
``--key-file``, from the ``key`` of the ``--config`` file, or from $ODOO_MAILGATE_KEY.

Config file (``--config``), all entries optional::

    [mailgate]
    url = http://127.0.0.1:8069
    database = mydb
    key_file = /etc/odoo/mailgate.key
    timeout = 60

Postfix master.cf example (one recipient per delivery: ``odoo_destination_recipient_limit = 1``)::

    odoo unix - n n - - pipe flags=Rq user=odoo-mailgate argv=/usr/bin/python3
      /usr/local/bin/odoo_mailgate.py --config /etc/odoo/mailgate.conf --recipient ${recipient}
"""
import argparse
import configparser
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

EX_OK = 0
EX_TEMPFAIL = 75
ENDPOINT = "/mail_deliverability/mailgate"


class TempFail(Exception):
    """Any failure: the mail server must keep the message and retry."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # a configuration mistake must not bounce the message
        raise TempFail(f"usage error: {message}")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def parse_args(argv):
    parser = _Parser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", help="INI file with a [mailgate] section (url, database, key or key_file, timeout)")
    parser.add_argument("--url", help="Odoo base URL, e.g. http://127.0.0.1:8069")
    parser.add_argument("-d", "--database", help="database name (when the server hosts several)")
    parser.add_argument("--key-file", help="file holding the API key (first line)")
    parser.add_argument("-r", "--recipient", action="append", default=[],
                        help="envelope recipient (Postfix ${recipient}, Exim $local_part@$domain); repeatable")
    parser.add_argument("--timeout", type=float, help="seconds to wait for Odoo (default 60)")
    return parser.parse_args(argv)


def load_settings(args, environ=os.environ):
    conf = {}
    if args.config:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(args.config, encoding="utf-8") as handle:
                parser.read_file(handle)
        except (OSError, configparser.Error) as exc:
            raise TempFail(f"cannot read config {args.config}: {exc}") from None
        if parser.has_section("mailgate"):
            conf = dict(parser.items("mailgate"))
    url = args.url or conf.get("url") or "http://127.0.0.1:8069"
    key_file = args.key_file or conf.get("key_file")
    key = conf.get("key") or ""
    if key_file:
        try:
            with open(key_file, encoding="utf-8") as handle:
                key = handle.readline()
        except OSError as exc:
            raise TempFail(f"cannot read key file {key_file}: {exc}") from None
    key = (key or environ.get("ODOO_MAILGATE_KEY", "")).strip()
    if not key:
        raise TempFail("no API key: give --key-file, key/key_file in --config or $ODOO_MAILGATE_KEY")
    try:
        timeout = float(args.timeout or conf.get("timeout") or 60)
    except ValueError:
        raise TempFail(f"timeout must be a number of seconds, not {conf.get('timeout')!r}") from None
    return {
        "url": url.rstrip("/"),
        "database": args.database or conf.get("database") or "",
        "key": key,
        "timeout": timeout,
    }


def database_cookie(settings):
    """Session cookie selecting the database, as Odoo's own ``/web/login?db=`` sets it."""
    url = f"{settings['url']}/web/login?{urllib.parse.urlencode({'db': settings['database']})}"
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        response = opener.open(url, timeout=settings["timeout"])
    except urllib.error.HTTPError as exc:
        response = exc
    for header in response.headers.get_all("Set-Cookie") or []:
        name_value = header.split(";", 1)[0].strip()
        if name_value.startswith("session_id="):
            return name_value
    raise TempFail(f"database {settings['database']!r} not selectable at {settings['url']} "
                   f"(HTTP {response.status})")


def deliver(raw, recipients, settings):
    """Post the message; return the server's one-line answer or raise TempFail."""
    # argv holds what the mail server passed, even bytes that are not UTF-8 (surrogate
    # escapes): sent as they came, Odoo keeps an unusable recipient's message in quarantine
    query = urllib.parse.urlencode([("recipient", r.encode("utf-8", "surrogateescape")) for r in recipients])
    request = urllib.request.Request(
        f"{settings['url']}{ENDPOINT}" + (f"?{query}" if query else ""), data=raw, method="POST",
        headers={"Authorization": f"Bearer {settings['key']}", "Content-Type": "message/rfc822"})
    if settings["database"]:
        request.add_header("Cookie", database_cookie(settings))
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=settings["timeout"]) as response:
            answer = response.read(2000).decode("utf-8", "replace").strip()
            status = response.status
    except urllib.error.HTTPError as exc:
        answer = exc.read(2000).decode("utf-8", "replace").strip().splitlines()
        raise TempFail(f"Odoo answered HTTP {exc.code}: {(answer or [exc.reason])[0][:300]}") from None
    except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timeout
        reason = getattr(exc, "reason", exc)
        raise TempFail(f"Odoo unreachable at {settings['url']}: {reason}") from None
    if status != 200 or not answer.startswith("ok"):
        raise TempFail(f"unexpected answer from Odoo (HTTP {status}): {answer[:300]}")
    return answer


def main(argv=None, stdin=None, environ=os.environ):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        settings = load_settings(args, environ)
        raw = (stdin or sys.stdin.buffer).read()
        answer = deliver(raw, args.recipient, settings)
    except TempFail as exc:
        print(f"odoo_mailgate: temporary failure, message kept: {exc}", file=sys.stderr)
        return EX_TEMPFAIL
    except Exception as exc:  # noqa: BLE001 - whatever happens, the mail server keeps the message
        print(f"odoo_mailgate: temporary failure, message kept: {exc!r}", file=sys.stderr)
        return EX_TEMPFAIL
    print(f"odoo_mailgate: {answer}")
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
