"""THE table of behaviours where the addon deliberately differs from stock Odoo 18.

Each row: ``scenario`` (a pattern or a list of patterns, ``*`` matching anything), ``field``
of the outcome, the ``stock`` and ``addon`` values (``*`` wildcards) and the ``reason``,
citing the README section (and the RFC or Odoo documentation behind it) that makes the
difference a choice. ``every: True``: every scenario the patterns match must show the
difference (else it counts as unexplained: the addon forgot to differ).

`run.py` fails on a difference no row explains, and on a row that explains no difference any
more (the table stays true). Rows are tried in order: put narrow rows before broad ones.
Scenario names: ``odoo/<test_mail_data name>/<placement>``, ``flufl/<sample>/<placement>``,
``sample/<tests/samples file>/<placement>``, ``seq/<sequence>/<step>``,
``out/<configuration>/<producer>/<sending path>`` (see inbound.py and outbound.py; the
``out/mass-*`` configurations run on the databases with Email Marketing).
"""

LATER_ANSWERS = ["seq/loop-alias/5", "seq/loop-alias-case/5", "seq/loop-alias-case/6", "seq/catchall-twice/2",
                 "seq/catchall-twice/3"]
GUARD = ("README 'Deliberate differences' + 'Gateway guard and quarantine'; RFC 5321 section 6.1: "
         "a message once accepted is never lost")
# messages marked as automatic replies (Auto-Submitted: auto-replied, X-Autoreply, ...)
AUTO = ["sample/auto_*", "sample/ack_freshdesk/*", "flufl/simple_41/*",
        "odoo/MAIL_EML_ATTACHMENT_BOUNCE_HEADERS/*"]
AUTO_NEW = ["sample/auto_*/as-is", "sample/ack_freshdesk/as-is", "flufl/simple_41/new",
            "odoo/MAIL_EML_ATTACHMENT_BOUNCE_HEADERS/new"]
AUTO_REPLY = ["sample/auto_*/reply", "sample/ack_freshdesk/reply", "odoo/MAIL_EML_ATTACHMENT_BOUNCE_HEADERS/reply"]
# helpdesks' automatic acknowledgements and mailing-list posts written to the catchall
UNANSWERED_CATCHALL = ["sample/ack_*/catchall", "sample/list_*/catchall"]

DELIBERATE = [
    # ---------------------------------------------------------------- inbound: quarantine
    {"scenario": "odoo/*/catchall", "field": "quarantine", "stock": "-", "addon": "catchall_direct",
     "every": True, "reason": f"Nothing refused is dropped: a write to the catchall is kept as "
                              f"catchall_direct ({GUARD})."},
    {"scenario": ["odoo/*/restricted", "odoo/*/team"], "field": "quarantine", "stock": "-",
     "addon": "alias_refused", "every": True,
     "reason": f"Nothing refused is dropped: mail an alias's contact policy refuses is kept as "
               f"alias_refused ({GUARD})."},
    {"scenario": "odoo/*/unroutable", "field": "quarantine", "stock": "-", "addon": "unroutable",
     "every": True, "reason": f"Nothing refused is dropped: unroutable mail still raises as in stock "
                              f"and is kept as unroutable ({GUARD})."},
    {"scenario": ["seq/loop-alias/4", "seq/loop-alias/5", "seq/loop-alias-case/4", "seq/loop-alias-case/5",
                  "seq/loop-alias-case/6"], "field": "quarantine", "stock": "-",
     "addon": "loop", "reason": f"Nothing refused is dropped: mail over the loop limit is kept as loop ({GUARD})."},
    {"scenario": "*", "field": "quarantine", "stock": "-", "addon": "*",
     "reason": f"Nothing refused is dropped (loop, catchall, alias policy, unroutable, automatic "
               f"replies, parse and processing errors are kept in mail.gateway.quarantine; stock "
               f"has no quarantine) ({GUARD})."},
    # ---------------------------------------------------------------- inbound: answers
    {"scenario": LATER_ANSWERS,
     "field": "answers", "stock": "1", "addon": "0",
     "reason": "At most one answer per sender per loop window: loop notices and catchall answers go "
               "out once per sender (normalised address) per mail.gateway.loop.minutes (README "
               "'Deliberate differences', first bullet; Odoo's test_routing_loop_alias is left out "
               "for this reason); RFC 3834 section 2: at most one automatic response per sender and period."},
    {"scenario": LATER_ANSWERS,
     "field": "other_messages", "stock": "*email_outgoing*", "addon": "-",
     "reason": "The answer not sent (one per sender per window) is not logged either (README "
               "'Deliberate differences', first bullet); RFC 3834 section 2."},
    # ---------------------------------------------------------------- inbound: automatic replies
    {"scenario": AUTO, "field": "result", "stock": "new", "addon": "dropped",
     "reason": "Automatic replies never create records (RFC 3834 section 2 and 5, Auto-Submitted: "
               "auto-replied / X-Autoreply...; README 'Deliberate differences' and 'Gateway guard')."},
    {"scenario": AUTO, "field": "records", "stock": "*", "addon": "-",
     "reason": "Automatic replies never create records (RFC 3834; README 'Deliberate differences')."},
    {"scenario": AUTO_NEW,
     "field": "posted", "stock": "*", "addon": "-",
     "reason": "Automatic replies never create records, so nothing is posted (RFC 3834; README)."},
    {"scenario": AUTO_REPLY,
     "field": "posted", "stock": "* email Discussions public", "addon": "* email Note internal",
     "reason": "An automatic reply on an existing thread is logged as an internal note (README "
               "'Deliberate differences': 'On an existing thread they are logged as an internal note "
               "without notifying followers'); RFC 3834 section 2: automatic mail is not passed on as if a person "
               "wrote it."},
    {"scenario": AUTO_REPLY,
     "field": "notified", "stock": "*", "addon": "-",
     "reason": "An automatic reply on a thread notifies no follower (README 'Deliberate differences'); RFC 3834 "
               "section 2."},
    {"scenario": AUTO_REPLY + ["sample/auto_*/catchall"],
     "field": "emails_out", "stock": "*", "addon": "-",
     "reason": "No e-mail goes out because of an automatic message: no follower notification, and "
               "no answer to automatic mail (RFC 3834 section 2; README 'Gateway guard': nothing "
               "automatic is ever answered)."},
    {"scenario": "sample/auto_*/catchall", "field": "answers", "stock": "1", "addon": "0",
     "reason": "Automatic mail written to the catchall is never answered (RFC 3834 section 2; README "
               "'Gateway guard and quarantine' and 'Deliberate differences': answers 'are never "
               "sent to automatic replies, mailing lists or null senders')."},
    {"scenario": "sample/auto_*/catchall", "field": "other_messages", "stock": "*email_outgoing*",
     "addon": "-", "reason": "The answer not sent to automatic mail is not logged either (RFC 3834)."},
    {"scenario": UNANSWERED_CATCHALL, "field": "other_messages", "stock": "*email_outgoing*", "addon": "-",
     "every": True,
     "reason": "Automatic mail (Auto-Submitted: auto-generated / auto-replied, X-Autoreply: Zendesk, "
               "ServiceNow, Freshdesk-style acknowledgements), bulk mail (Precedence: bulk: Jira) and "
               "mailing-list posts (List-Id, Precedence: list: Mailman, Google Groups) written to the "
               "catchall get no answer, so none is logged (RFC 3834 section 2; RFC 2919/2369 list "
               "traffic; README 'Gateway guard and quarantine': 'mailing-list traffic, null-sender "
               "mail ... are never answered', 'Deliberate differences': answers 'are never sent to "
               "automatic replies, mailing lists or null senders')."},
    {"scenario": UNANSWERED_CATCHALL, "field": "answers", "stock": "1", "addon": "0",
     "reason": "No answer to automatic, bulk or mailing-list mail written to the catchall (RFC 3834 "
               "section 2; README 'Gateway guard and quarantine')."},
    {"scenario": UNANSWERED_CATCHALL, "field": "emails_out", "stock": "*", "addon": "-",
     "reason": "Stock answers a write to the catchall at the Return-Path (a list's or helpdesk's "
               "bounce address: the answer would go to the list or the ticketing system); no answer "
               "to automatic, bulk or mailing-list mail (RFC 3834 section 2; README 'Gateway guard "
               "and quarantine')."},
    # ---------------------------------------------------------------- inbound: errors
    {"scenario": ["flufl/qmail_08/*", "sample/broken_truncated/*"], "field": "result",
     "stock": "raised:LookupError", "addon": "bounce",
     "reason": "A report whose text parts declare a charset Python does not know is read as Latin-1 "
               "instead of making the gateway raise (README 'Deliberate differences', bounces); RFC 2046 section "
               "4.1.2: an unknown charset does not make the rest of the message unreadable."},
    {"scenario": "flufl/smtp32_01/new", "field": "records", "stock": "*", "addon": "-",
     "reason": "All gateway steps share one savepoint: a processing error leaves nothing half-done "
               "but the quarantined message (README 'Gateway guard and quarantine'); RFC 5321 section 6.1."},
    {"scenario": "flufl/smtp32_01/new", "field": "posted", "stock": "*", "addon": "-",
     "reason": "All gateway steps share one savepoint (README 'Gateway guard and quarantine'); RFC 5321 section 6.1."},
    # ---------------------------------------------------------------- inbound: bounces
    {"scenario": ["flufl/dsn_02/*", "flufl/dsn_05/*", "flufl/dsn_06/*", "flufl/dsn_07/*",
                  "flufl/dsn_08/*", "flufl/dsn_17/*"],
     "field": "bounce_counters", "stock": "*", "addon": "*",
     "reason": "Only a hard bounce (RFC 3463 5.x.x) counts: delay warnings (Action: delayed, RFC 3464 "
               "section 2.3.3) and soft bounces (4.x.x) are recorded as bounce events only (README "
               "'Deliberate differences', bounces)."},
    {"scenario": ["flufl/dsn_02/*", "flufl/dsn_05/*", "flufl/dsn_06/*", "flufl/dsn_07/*",
                  "flufl/dsn_08/*", "flufl/dsn_17/*"],
     "field": "bounced_notifications", "stock": "*", "addon": "-",
     "reason": "A delay warning or soft bounce does not mark the notification with the red envelope "
               "(RFC 3463/3464; README 'Deliberate differences', bounces)."},
    {"scenario": ["flufl/dsn_01/*", "flufl/dsn_04/*"], "field": "bounce*",
     "stock": "*", "addon": "*",
     "reason": "The Original-Recipient (the address the e-mail was sent to, RFC 3464 section 2.3.1) "
               "is preferred to the Final-Recipient (the address after forwarding, section 2.3.2): "
               "Odoo matches the address it wrote to (README 'Bounces')."},
    {"scenario": ["flufl/dsn_12/*", "flufl/dsn_16/*", "flufl/dsn_18/*", "flufl/simple_42/*"],
     "field": "bounce_counters", "stock": "*=1*", "addon": "-",
     "reason": "A hard bounce acts on an address only with proof that this database wrote to it (a "
               "signed bounce address, or a quoted Message-Id sent to that very address): these "
               "reports quote no e-mail, and anyone can send such a report (README 'Bounces', "
               "'Deliberate differences'); RFC 3464 section 6.2: reports can be forged."},
    {"scenario": "odoo/MAIL_NO_FINAL_RECIPIENT/reply", "field": "bounce*",
     "stock": "-", "addon": "*",
     "reason": "A delivery-status part that names no recipient is read like a plain-text bounce "
               "(the address is in its text), and the report quotes an e-mail sent to that address "
               "(README 'Bounces'); RFC 3464 section 2.3.2: Final-Recipient is required, so its absence is a broken "
               "report."},
    # Plain-text bounces are read (README 'Bounces'), but like any report they act on an address
    # only when it quotes an e-mail this database sent there: the scenarios above give each
    # report such an e-mail, so a plain-text bounce counts on both sides alike.
    # ---------------------------------------------------------------- outbound: Email Marketing
    {"scenario": "out/mass-dedicated-filter-other/mailing-3/queue", "field": "From",
     "stock": "*<marketing@guard.example.com>*", "addon": "*<notifications@guard.example.com>*",
     "every": True,
     "reason": "A mailing's Dedicated Server obeys its FROM filter: a sender it does not admit is "
               "rewritten to the notification address instead of going out spoofed (README "
               "'Deliberate differences', 'Outgoing routing'; Odoo's test_mass_mailing_server_find "
               "is left out for this reason; mail_deliverability.dedicated_server_from_filter = "
               "False restores stock); Odoo documentation 'Send and receive emails in Odoo with an email server', "
               "FROM filtering."},
    {"scenario": "out/mass-dedicated-filter-other/mailing-3/queue", "field": "envelope",
     "stock": "*marketing@guard.example.com -> contact*", "addon": "*notifications@guard.example.com -> contact*",
     "reason": "The envelope sender follows the rewritten From of a mailing whose Dedicated Server's "
               "FROM filter does not admit its sender (README 'Deliberate differences', 'Outgoing "
               "routing'); Odoo documentation 'Send and receive emails in Odoo with an email server', FROM filtering."},
    {"scenario": "out/mass-dedicated-nofilter/mailing-3/queue", "field": "From",
     "stock": "*<marketing@guard.example.com>*", "addon": "*<notifications@guard.example.com>*",
     "every": True,
     "reason": "A mailing's Dedicated Server without FROM filter sends with the notification address, "
               "as Odoo's documentation says ('If FROM filtering is not used, emails will go out using "
               "the notification address') (README 'Deliberate differences', 'Outgoing routing'; "
               "mail_deliverability.dedicated_server_from_filter = False restores stock, scenario "
               "out/mass-dedicated-nofilter-stock-param)."},
    # ---------------------------------------------------------------- outbound
    {"scenario": "out/*", "field": "Auto-Submitted", "stock": "-*", "addon": "auto-generated*",
     "reason": "Mail no person wrote (system notifications, OdooBot's messages) carries "
               "Auto-Submitted: auto-generated so that auto-responders never answer it (RFC 3834 "
               "section 5.1; README 'Gateway guard and quarantine' and 'Deliberate differences')."},
    {"scenario": "out/equal-priority/*", "field": "server", "stock": "sink-b", "addon": "sink-a",
     "reason": "Outgoing servers of equal Priority are ordered by name, as Odoo's documentation "
               "states (stock: creation order) (README 'Deliberate differences'; 'Outgoing "
               "routing': 'First is the lowest Priority, then the name')."},
    {"scenario": "out/fail-451/mail-1/queue", "field": "states", "stock": "* exception unknown",
     "addon": "* outgoing -",
     "reason": "The queue retries temporary failures (4xx) instead of failing the e-mail (README "
               "'Deliberate differences' and 'Outgoing queue'; RFC 5321 section 4.2.1: 4yz is a "
               "transient negative completion)."},
    {"scenario": "out/fail-451/post-1/commit", "field": "states", "stock": "* exception unknown",
     "addon": "* outgoing -",
     "reason": "Mail sent right after the commit follows the queue's rules: a temporary refusal "
               "leaves the e-mail queued with its next try (README 'Outgoing queue', 'One sender "
               "per e-mail, whatever the path'); RFC 5321 section 4.2.1: 4yz is a transient negative completion."},
    {"scenario": "out/fail-451/post-1/commit", "field": "notifications", "stock": "* exception unknown",
     "addon": "* ready -",
     "reason": "A postponed e-mail's notifications stay ready: no red envelope for a temporary "
               "refusal (README 'Outgoing queue'); RFC 5321 section 4.2.1."},
    {"scenario": "out/fail-451/mail-1/direct", "field": "states", "stock": "* exception unknown",
     "addon": "* outgoing -",
     "reason": "A direct send() (the e-mail form's Send Now, code) follows the queue's rules too: a "
               "temporary refusal leaves the e-mail queued with its next try (README 'Outgoing "
               "queue', 'One sender per e-mail, whatever the path'; RFC 5321 section 4.2.1: 4yz "
               "is a transient negative completion)."},
    {"scenario": ["out/unreachable-failover/mail-1/queue", "out/unreachable-failover/mail-1/direct"],
     "field": "*", "stock": "*", "addon": "*",
     "reason": "When a server cannot be reached, the e-mail fails over to a server with the same "
               "FROM filter, on every path (README 'Deliberate differences', 'Outgoing queue': "
               "Failover); RFC 5321 section 4.5.4.1: retry, and another route when one exists."},
    {"scenario": "out/force-smtp-from/*", "field": "From", "stock": "*<notifications@*",
     "addon": "*<forced@*",
     "reason": "mail.force.smtp.from does what Odoo's page 'Send and Receive Emails in Odoo with an "
               "Email Server' says: every From becomes that address, also through a server without "
               "FROM filter (stock 18 no longer reads the parameter) (README 'Deliberate "
               "differences', 'Outgoing routing')."},
    {"scenario": "out/reply-keys/*", "field": "Reply-To", "stock": "*catchall@guard.example.com*",
     "addon": "*catchall+*@guard.example.com*", "every": True,
     "reason": "With Reply keys on (a switch per alias domain, off by default), notifications answer "
               "to catchall+<key>@domain, the key naming the record, so that a reply whose client or "
               "relay dropped In-Reply-To and References still reaches its record instead of making a "
               "duplicate or bouncing (README 'Reply keys'; odoo/odoo #22488; RFC 5233 sub-addressing)."},
    {"scenario": "out/one-nofilter/mail-newline-name/queue", "field": "*", "stock": "*", "addon": "*",
     "reason": "Line breaks and control characters in a From display name become spaces (stock "
               "splits the value into several addresses and the e-mail fails) (README 'Deliberate "
               "differences'; RFC 5322 section 3.2.5/2.2: no bare line break in a phrase)."},
    # ---------------------------------------------------------------- inbound: one malformed rule
    {"scenario": ["flufl/bounce_01/new", "flufl/simple_24/new"], "field": "result", "stock": "new",
     "addon": "dropped",
     "reason": "One rule for what counts as malformed, whatever the entrance (direct call, incoming "
               "server, MX gateway): a message without a From header has no author (RFC 5322 section "
               "3.6: From is required), so it is kept in quarantine as parse_error instead of creating "
               "a record (README 'Gateway guard and quarantine')."},
    {"scenario": ["flufl/bounce_01/new", "flufl/simple_24/new"], "field": "records", "stock": "*",
     "addon": "-", "reason": "A message without From is kept in quarantine, not made a record (RFC 5322 "
                             "section 3.6; README 'Gateway guard and quarantine')."},
    {"scenario": ["flufl/bounce_01/new", "flufl/simple_24/new"], "field": "posted", "stock": "*",
     "addon": "-", "reason": "A message without From is kept in quarantine, nothing is posted (RFC 5322 "
                             "section 3.6; README 'Gateway guard and quarantine')."},
]
