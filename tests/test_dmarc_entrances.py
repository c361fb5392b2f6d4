"""Reports through the real gateway paths: a real Postfix piping to the MX gateway, and a
real Dovecot fetched by an incoming server. Whatever address they reach, they are stored
as reports and never create a record through an alias."""
import time

from odoo.tests import tagged

from . import test_dmarc_samples as samples
from .mailgate_common import EntrancesCase


def days_ago(days):
    return int(time.time()) - days * samples.DAY


@tagged("post_install", "-at_install")
class TestDmarcEntrances(EntrancesCase):

    def reports(self):
        return self.env["mail.dmarc.report"].search([("alias_domain_id", "=", self.mail_alias_domain.id)])

    def test_postfix_to_mx_gateway(self):
        domain = self.alias_domain_name
        google = samples.google_mail(domain, "pf-g", days_ago(1), [{"ip": "192.0.2.1", "count": 7}])
        microsoft = samples.microsoft_mail(domain, "pf-m", days_ago(1), [{"ip": "192.0.2.1", "count": 3}])
        tls = samples.tlsrpt_mail(domain, "pf-t", days_ago(1), [("certificate-expired", "192.0.2.9", 2)])
        self.postfix.send(google, f"dmarc-reports@{domain}")
        self.postfix.send(microsoft, f"dmarc-reports@{domain}")
        # sent to the address of an alias that creates records: still only a report
        self.postfix.send(tls, self.alias_address)
        # the same Google report again, as a new e-mail
        self.postfix.send(samples.google_mail(domain, "pf-g", days_ago(1), [{"ip": "192.0.2.1", "count": 7}]),
                          f"dmarc-reports@{domain}")
        self.postfix.wait_for_log("status=sent", 4, since=self.mark)
        self.postfix.wait_queue_empty()
        self.env.invalidate_all()
        reports = self.reports()
        self.assertEqual(sorted(reports.mapped("report_id")), ["pf-g", "pf-m", "pf-t"])
        self.assertEqual(sum(reports.filtered(lambda r: r.kind == "dmarc").mapped("message_count")), 10)
        self.assertFalse(self.env["mail.test.gateway"].search([]), "no record through an alias")
        self.assertFalse(self.env["mail.gateway.quarantine"].search([]))

    def test_dovecot_to_incoming_server(self):
        domain = self.alias_domain_name
        box, server = self.mailbox(object_id=self.env["ir.model"]._get_id("mail.test.gateway"))
        box.deliver(samples.google_mail(domain, "imap-g", days_ago(2), [{"ip": "192.0.2.1", "count": 5}]))
        box.deliver(samples.microsoft_mail(domain, "imap-m", days_ago(2), [
            {"ip": "198.51.100.3", "count": 2, "dkim": "fail", "spf": "fail"}]))
        box.deliver(samples.google_mail("unknown-domain.test", "imap-x", days_ago(2), [{"ip": "192.0.2.1", "count": 1}],
                                        to=f"dmarc-reports@{domain}"))
        self.fetch(server)
        self.assertEqual(sorted(self.reports().mapped("report_id")), ["imap-g", "imap-m"])
        self.assertFalse(self.env["mail.test.gateway"].search([]), "the server's model gets no record")
        entry = self.env["mail.gateway.quarantine"].search([])
        self.assertEqual(entry.reason, "unroutable")
        self.assertIn("unknown-domain.test", entry.reason_detail)
