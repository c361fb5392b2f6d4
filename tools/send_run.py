"""The state of one sending run, held in the cursor's own cache (``cr.cache``).

Odoo's ``mail.mail.send`` calls ``_split_by_mail_configuration``, ``ir.mail_server.connect``,
``send_email`` and ``mail.mail.write`` in turn, on one cursor, with no way to pass a value
from one to the next. What the addon needs across those calls (the route planned for each
e-mail, the From and envelope really used, the classified error of the last connection or
send, the recipients each transaction accepted) is this one object; it lives and dies with
the cursor, as Odoo's own per-transaction caches do.
"""
from dataclasses import dataclass, field

CACHE_KEY = "mail_deliverability.send_run"


@dataclass
class SendRun:
    # routing: the planned route per e-mail being sent; what the last message prepared
    # really used; the route of each e-mail once its outcome is written (its notifications)
    mails: dict = field(default_factory=dict)
    last: dict | None = None
    finished: dict = field(default_factory=dict)
    # sending: the classified error of the last connection and of the last send
    connect_error: object = None
    send_error: object = None
    # per recipient: the e-mail being sent, the recipients each server transaction accepted,
    # the e-mails every recipient of which had accepted an earlier try, the deferred ones
    current_mail: int | None = None
    accepted: dict = field(default_factory=dict)
    already_delivered: set = field(default_factory=set)
    deferred: set = field(default_factory=set)
    # a queue run: the e-mails it claimed for Odoo's process_email_queue to send and
    # whether it is the scheduled one; its hand-over log, its time budget, whether it commits, its current batch
    # and the sent e-mails it removes at the end
    claimed_ids: list | None = None
    scheduled: bool = False
    handover: object = None
    deadline: float | None = None
    cut_by_time: bool = False
    committing: bool = False
    batch_ids: list = field(default_factory=list)
    unlink_ids: set | None = None

    def forget_mails(self):
        """What the run noted per e-mail, forgotten once it is over."""
        self.deferred.clear()
        self.accepted.clear()
        self.already_delivered.clear()
        self.current_mail = None

    def end_queue_run(self):
        """A queue run is over: nothing of it may leak into the next use of the cursor."""
        self.forget_mails()
        self.batch_ids = []
        self.handover = None
        self.deadline = None
        self.committing = False
        self.unlink_ids = None


def send_run(cr):
    """The sending run of ``cr`` (created the first time it is asked for)."""
    run = cr.cache.get(CACHE_KEY)
    if run is None:
        run = cr.cache[CACHE_KEY] = SendRun()
    return run
