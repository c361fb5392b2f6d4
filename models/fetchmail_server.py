import imaplib
import logging
import poplib
import re
import threading
import time

import psycopg2.errors

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from odoo.addons.mail.models import fetchmail as stock_fetchmail

from ..tools.fetchmail import FolderMissing, LoginFailed, connection_failure_cause
from ..tools.mailgate import MAX_SIZE_PARAM
from .fetchmail_message_key import ClaimDeferred

_logger = logging.getLogger(__name__)

PARAM_BATCH = "mail_deliverability.fetchmail_batch_size"
PARAM_BUDGET = "mail_deliverability.fetchmail_time_budget"
PARAM_TIMEOUT = "mail_deliverability.fetchmail_timeout"

TRANSIENT_DB_ERRORS = (
    psycopg2.errors.SerializationFailure, psycopg2.errors.DeadlockDetected, psycopg2.errors.LockNotAvailable)

# what a message became: done ones are flagged / moved / deleted on the mail server
DONE = ("processed", "duplicate", "quarantined")
OUTCOMES = ("processed", "duplicate", "quarantined", "failed")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_UID = re.compile(rb"UID (\d+)")


def _quote_folder(name):
    return '"%s"' % name.replace("\\", "\\\\").replace('"', '\\"')


class FetchmailServer(models.Model):
    """Exact incoming fetch: every message is processed once or quarantined, never lost.

    A message counts as done once its result is committed; only then is it flagged seen,
    moved or deleted on the mail server. A crash between the two leaves it on the server,
    where the remembered UID (IMAP) or the Message-Id key (both) recognise it next time.
    """

    _inherit = "fetchmail.server"

    password = fields.Char(groups="base.group_system")
    md_folders = fields.Char(
        "Folders", default="INBOX",
        help="IMAP folders to fetch, separated by commas. Messages are fetched by UID in each.")
    md_move_to = fields.Char(
        "Move processed messages to",
        help="IMAP folder receiving every message once processed or quarantined. "
             "Empty: the message is flagged as read and stays where it is.")
    md_fetched_count = fields.Integer("Messages fetched", readonly=True, copy=False,
                                      help="Messages processed since the server was created.")
    md_quarantined_count = fields.Integer("Messages quarantined", readonly=True, copy=False,
                                          help="Messages that could not be processed and were kept in the quarantine.")
    md_duplicate_count = fields.Integer(
        "Copies skipped", readonly=True, copy=False,
        help="Copies of messages already received for the same destination (the same message in two "
             "folders or mailboxes for the same alias or thread): done, without creating anything again.")
    md_failed_count = fields.Integer("Messages failed", readonly=True, copy=False,
                                     help="Messages that could be neither processed nor quarantined; they stay on "
                                          "the mail server and are tried again at the next fetch.")
    md_last_error = fields.Text("Last error", readonly=True, copy=False,
        help="Error of the last fetch, empty when it went well. Fix the cause (password, host, folder) and use "
             "Fetch Now to retry.")
    md_folder_ids = fields.One2many("fetchmail.server.folder", "fetchmail_server_id", "Folder states", readonly=True,
        help="Where the fetch stands in each folder of the mailbox (IMAP UIDVALIDITY and last UID seen).")

    @api.constrains("md_folders", "md_move_to")
    def _check_md_folders(self):
        for server in self:
            for name in server._md_folder_names() + [server.md_move_to or ""]:
                if re.search(r"[\r\n\x00]", name):
                    raise ValidationError(self.env._(
                        "Folders and Move processed messages to cannot contain line breaks: %(name)r. "
                        "Write each folder name on one line, separated by commas.", name=name))

    def _md_folder_names(self):
        self.ensure_one()
        names = [name.strip() for name in (self.md_folders or "").split(",") if name.strip()]
        return names or ["INBOX"]

    # -- parameters ----------------------------------------------------------------------------

    def _md_param(self, key):
        return self.env["ir.config_parameter"].sudo()._md_param(key)

    # -- connection ----------------------------------------------------------------------------

    def _md_open(self):
        """Open the network connection (no login) with the configured timeout."""
        self.ensure_one()
        timeout = self._md_param(PARAM_TIMEOUT)
        # the classes stock's fetchmail module uses (looked up there, as modules that extend it
        # and their tests expect), opened with the configured timeout
        if self._get_connection_type() == "imap":
            cls = stock_fetchmail.IMAP4_SSL if self.is_ssl else stock_fetchmail.IMAP4
        else:
            cls = stock_fetchmail.POP3_SSL if self.is_ssl else stock_fetchmail.POP3
        return cls(self.server, int(self.port), timeout=timeout)

    def _md_login(self, connection):
        try:
            if self._get_connection_type() == "imap":
                self._imap_login(connection)
            else:
                connection.user(self.user)
                connection.pass_(self.password)
        except (imaplib.IMAP4.abort, OSError):
            raise
        except (imaplib.IMAP4.error, poplib.error_proto) as error:
            raise LoginFailed(str(error)) from error

    def connect(self, allow_archived=False):
        """IMAP and POP connections with a real timeout and a login error we can name."""
        self.ensure_one()
        if self._get_connection_type() not in ("imap", "pop"):
            return super().connect(allow_archived=allow_archived)
        if not allow_archived and not self.active:
            raise UserError(self.env._('The server "%s" cannot be used because it is archived.', self.display_name))
        connection = self._md_open()
        try:
            self._md_login(connection)
        except Exception:
            self._md_close(connection)
            raise
        return connection

    def _md_close(self, connection):
        try:
            if isinstance(connection, imaplib.IMAP4):
                connection.logout()
            else:
                connection.quit()
        except Exception:  # noqa: BLE001 - closing a dead connection
            try:
                connection.sock.close()
            except Exception:  # noqa: BLE001
                _logger.debug("Socket of a dead connection already closed", exc_info=True)

    def _md_imap_select(self, connection, folder, readonly=False):
        connection.untagged_responses.pop("UIDVALIDITY", None)
        typ, data = connection.select(_quote_folder(folder), readonly=readonly)
        if typ != "OK":
            raise FolderMissing(folder)
        return data

    def button_confirm_login(self):
        """Test & Confirm: connect, log in, open every folder; say in plain words what failed."""
        for server in self:
            if server._get_connection_type() not in ("imap", "pop"):
                super(FetchmailServer, server).button_confirm_login()
                continue
            connection = None
            try:
                connection = server._md_open()
                server._md_login(connection)
                if server._get_connection_type() == "imap":
                    for folder in server._md_folder_names() + ([server.md_move_to] if server.md_move_to else []):
                        server._md_imap_select(connection, folder, readonly=True)
            except Exception as error:  # noqa: BLE001 - every cause is reported in words
                _logger.info("Test of %s server %s failed.", server.server_type, server.name, exc_info=True)
                cause = str(connection_failure_cause(error, server.server, server.port))
                server._md_note_test_failure(cause)
                raise UserError(cause) from error
            finally:
                if connection is not None:
                    server._md_close(connection)
            server.write({"state": "done", "md_last_error": False})
        return True

    def _md_note_test_failure(self, cause):
        """A failed Test & Confirm is kept in *Last error*: written on a cursor of its own, so
        the error the user sees (which rolls the request back) does not erase it."""
        self.ensure_one()
        if getattr(threading.current_thread(), "testing", False):
            self.md_last_error = cause  # tests: one transaction, nothing to commit
            return
        with self.env.registry.cursor() as cr:
            self.with_env(self.env(cr=cr)).write({"md_last_error": cause})

    # -- cron entry points ---------------------------------------------------------------------

    def fetch_mail(self, raise_exception=True):
        """Fetch the servers; commits after each batch (cron and "Fetch Now" only)."""
        exact = self.filtered(lambda s: s._get_connection_type() in ("imap", "pop"))
        others = self - exact
        if others:
            super(FetchmailServer, others).fetch_mail(raise_exception=raise_exception)
        deadline = time.monotonic() + self._md_param(PARAM_BUDGET)
        for server in exact:
            if not server._md_lock():
                _logger.info("Incoming server %s is being fetched by another worker: skipped.", server.name)
                if raise_exception:
                    raise UserError(self.env._(
                        "The incoming server %s is being fetched by another worker right now; try again "
                        "in a moment.", server.name))
                continue
            error = server._md_fetch(deadline)
            if error and raise_exception:
                raise UserError(self.env._("Could not fetch %(server)s: %(error)s", server=server.name, error=error))
        return True

    def _md_lock(self):
        """Lock the server row for this transaction; False when another worker holds it."""
        self.env.cr.execute("SELECT id FROM fetchmail_server WHERE id = %s FOR UPDATE SKIP LOCKED", [self.id])
        return bool(self.env.cr.fetchone())

    def _md_commit(self):
        """The commit point of a fetch: what was processed is durable before the mail server
        forgets it. Re-locks the server row at once, as the commit released it."""
        # invalid-commit: each fetched message is committed before the next, as Odoo's fetchmail does
        self.env.cr.commit()  # pylint: disable=invalid-commit
        return self._md_lock()

    def _md_fetch(self, deadline):
        """Fetch one server; returns the error text of a run that stopped early, else False."""
        self.ensure_one()
        stats = dict.fromkeys(OUTCOMES, 0)
        totals = dict(stats)
        stats["_totals"] = totals
        _logger.info("Fetching %s server %s.", self.server_type, self.name)
        holder = {}
        error = False
        try:
            holder["connection"] = self.connect()
            if self._get_connection_type() == "imap":
                self._md_fetch_imap(holder["connection"], deadline, stats)
            else:
                self._md_fetch_pop(holder, deadline, stats)
        except Exception as exc:  # noqa: BLE001 - reported on the server, the cron goes on
            _logger.warning("Fetching %s server %s stopped.", self.server_type, self.name, exc_info=True)
            error = str(connection_failure_cause(exc, self.server, self.port))
        finally:
            if holder.get("connection") is not None:
                self._md_close(holder["connection"])
        self._md_write_stats(stats, error=error, final=True)
        self._md_commit()
        _logger.info("Fetched %s server %s: %d processed, %d quarantined, %d copies skipped, %d failed.",
                     self.server_type, self.name, totals["processed"], totals["quarantined"],
                     totals["duplicate"], totals["failed"])
        return error

    def _md_write_stats(self, stats, error=False, final=False):
        """Add this batch's counts to the server (one UPDATE per batch) and reset them."""
        vals = {
            "md_fetched_count": self.md_fetched_count + stats["processed"],
            "md_quarantined_count": self.md_quarantined_count + stats["quarantined"],
            "md_failed_count": self.md_failed_count + stats["failed"],
            "md_duplicate_count": self.md_duplicate_count + stats["duplicate"],
        }
        if final:
            vals["date"] = fields.Datetime.now()
            vals["md_last_error"] = error or False
        # the context keeps stock's write() from toggling the cron at every batch
        self.with_context(fetchmail_cron_running=True).write(vals)
        for name in OUTCOMES:
            stats["_totals"][name] += stats[name]
            stats[name] = 0

    # -- one message -----------------------------------------------------------------------------

    def _md_process_message(self, raw, size=None):
        """Process ``raw`` once: returns "processed", "duplicate", "quarantined" or "failed".

        ``mail.thread._gateway_receive`` decides everything (size limit, malformed message,
        duplicates per destination, quarantine reason, alias, model and company); this only
        says what becomes of the message on the mail server.  ``raw`` is the header section
        alone when the message is over the size limit (``size``: its size on the server).
        "failed": neither processed nor quarantined (another worker was in the way, or even
        the quarantine failed): left on the mail server for the next run.
        """
        self.ensure_one()
        try:
            result = self.env["mail.thread"].with_context(
                fetchmail_cron_running=True, default_fetchmail_server_id=self.id,
            )._gateway_receive(raw, self.object_id.model or None, save_original=self.original,
                               strip_attachments=not self.attach, size=size)
        except (ClaimDeferred, *TRANSIENT_DB_ERRORS):
            # another worker's transaction was in the way: not the message's fault, retry later
            _logger.info("A message from server %s deferred.", self.name, exc_info=True)
            return "failed"
        except Exception:  # noqa: BLE001 - left on the mail server for the next run
            _logger.exception("A message from server %s could be neither processed nor quarantined.", self.name)
            return "failed"
        return result["outcome"]

    def _md_max_size(self):
        return self._md_param(MAX_SIZE_PARAM)

    # -- IMAP ------------------------------------------------------------------------------------

    def _md_folder_state(self, folder, uidvalidity):
        state = self.md_folder_ids.filtered(lambda f: f.name == folder)[:1]
        if not state:
            state = self.env["fetchmail.server.folder"].create({
                "fetchmail_server_id": self.id, "name": folder, "uidvalidity": uidvalidity, "last_uid": "0"})
        elif state.uidvalidity != uidvalidity:
            _logger.info("Folder %s of server %s has a new UIDVALIDITY: UIDs start over.", folder, self.name)
            state.write({"uidvalidity": uidvalidity, "last_uid": "0"})
        return state

    def _md_fetch_imap(self, connection, deadline, stats):
        batch_size = self._md_param(PARAM_BATCH)
        typ, data = connection.capability()
        capabilities = set((data[0] or b"").upper().split()) if typ == "OK" else set()
        if self.md_move_to:
            self._md_imap_select(connection, self.md_move_to, readonly=True)
        for folder in self._md_folder_names():
            self._md_imap_select(connection, folder)
            uidvalidity = (connection.response("UIDVALIDITY")[1] or [b""])[0]
            uidvalidity = uidvalidity.decode() if isinstance(uidvalidity, bytes) else str(uidvalidity or "")
            state = self._md_folder_state(folder, uidvalidity)
            # moved messages leave the folder: every message left is to do; otherwise the unread ones
            typ, data = connection.uid("SEARCH", None, "UNDELETED" if self.md_move_to else "UNSEEN UNDELETED")
            if typ != "OK":
                raise imaplib.IMAP4.error(f"SEARCH failed in {folder}: {data}")
            uids = sorted(int(uid) for uid in (data[0] or b"").split())
            last_uid = int(state.last_uid or 0)
            # committed earlier, but the flag or move was lost (connection dropped): finish them
            self._md_imap_finish(connection, [uid for uid in uids if uid <= last_uid], capabilities)
            todo = [uid for uid in uids if uid > last_uid]
            while todo:
                if time.monotonic() > deadline:
                    _logger.info("Time budget spent on server %s; %d message(s) left for the next run.",
                                 self.name, len(todo))
                    return
                chunk, todo = todo[:batch_size], todo[batch_size:]
                done, contiguous = [], True
                for uid, raw, size in self._md_imap_fetch_chunk(connection, chunk):
                    outcome = self._md_process_message(raw, size) if raw is not None else "failed"
                    stats[outcome] += 1
                    if outcome in DONE:
                        done.append(uid)
                        if contiguous:
                            last_uid = uid
                    else:
                        contiguous = False
                state.last_uid = str(last_uid)
                self._md_write_stats(stats)
                locked = self._md_commit()
                self._md_imap_finish(connection, done, capabilities)
                if not locked:
                    _logger.info("Server %s was taken over by another worker; stopping.", self.name)
                    return

    def _md_imap_fetch_chunk(self, connection, uids):
        """Yield (uid, raw bytes, size) for ``uids``; a missing message yields raw None.

        Sizes first (RFC822.SIZE, one UID FETCH): a message over the size limit is fetched by
        its header section only (BODY.PEEK[HEADER]) and never read whole; the others whole
        (BODY.PEEK[]), one UID FETCH each kind.
        """
        typ, data = connection.uid("FETCH", ",".join(map(str, uids)), "(UID RFC822.SIZE)")
        if typ != "OK":
            raise imaplib.IMAP4.error(f"FETCH failed: {data}")
        sizes = {}
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            uid, size = _UID.search(line or b""), _SIZE.search(line or b"")
            if uid and size:
                sizes[int(uid.group(1))] = int(size.group(1))
        limit = self._md_max_size()
        over = [uid for uid in uids if sizes.get(uid, 0) > limit]
        whole = [uid for uid in uids if uid in sizes and uid not in over]
        found = {}
        for part, wanted in (("BODY.PEEK[]", whole), ("BODY.PEEK[HEADER]", over)):
            if not wanted:
                continue
            typ, data = connection.uid("FETCH", ",".join(map(str, wanted)), f"(UID {part})")
            if typ != "OK":
                raise imaplib.IMAP4.error(f"FETCH failed: {data}")
            for item in data:
                if isinstance(item, tuple):
                    match = _UID.search(item[0])
                    if match:
                        found[int(match.group(1))] = item[1]
        for uid in uids:
            yield uid, found.get(uid), sizes.get(uid)

    def _md_imap_finish(self, connection, uids, capabilities):
        """Flag done messages as read, or move them to the chosen folder."""
        if not uids:
            return
        uid_set = ",".join(map(str, uids))
        if not self.md_move_to:
            typ, data = connection.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Seen)")
        elif b"MOVE" in capabilities:
            typ, data = connection.uid("MOVE", uid_set, _quote_folder(self.md_move_to))
        else:
            typ, data = connection.uid("COPY", uid_set, _quote_folder(self.md_move_to))
            if typ == "OK":
                connection.uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Seen \\Deleted)")
                typ, data = connection.expunge()
        if typ != "OK":
            raise imaplib.IMAP4.error(f"Could not flag or move processed messages: {data}")

    # -- POP -------------------------------------------------------------------------------------

    def _md_fetch_pop(self, holder, deadline, stats):
        """POP: delete a message only once its result is committed.

        Deletions take effect at QUIT, so each batch ends with QUIT and a new connection.
        Messages that failed stay on the server and are skipped for the rest of the run.
        ``holder["connection"]`` is the open connection, closed by the caller.
        """
        batch_size = self._md_param(PARAM_BATCH)
        skipped = set()
        while True:
            connection = holder["connection"]
            listing = [line.decode().split() for line in connection.uidl()[1]]
            sizes = dict(line.decode().split()[:2] for line in connection.list()[1])
            todo = [(int(num), uidl) for num, uidl in listing if uidl not in skipped][:batch_size]
            limit = self._md_max_size()
            if not todo:
                return
            if time.monotonic() > deadline:
                _logger.info("Time budget spent on server %s; messages left for the next run.", self.name)
                return
            done = []
            for num, uidl in todo:
                size = int(sizes.get(str(num)) or 0)
                # over the size limit: the header section only (TOP n 0), never the whole message
                lines = connection.top(num, 0)[1] if size > limit else connection.retr(num)[1]
                raw = b"\r\n".join(lines) + b"\r\n"
                outcome = self._md_process_message(raw, size if size > limit else None)
                stats[outcome] += 1
                if outcome in DONE:
                    done.append(num)
                else:
                    skipped.add(uidl)
            self._md_write_stats(stats)
            locked = self._md_commit()
            for num in done:
                connection.dele(num)
            holder["connection"] = None
            connection.quit()  # the deletions take effect now
            if not locked:
                return
            holder["connection"] = self.connect()
