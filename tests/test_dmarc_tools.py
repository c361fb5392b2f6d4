"""tools/dmarc_report.py on the samples of test_dmarc_samples: both DMARC formats, TLS
reports, Google's and Microsoft's wrapping, and hostile input (bombs, entities, lies)."""
import contextlib
import email
import io
import time
import zipfile
import zlib
from email import policy

from odoo.tests import BaseCase, tagged

from ..tools import dmarc_report as dr
from . import test_dmarc_samples as samples

BEGIN = 1700000000
OK = {"ip": "192.0.2.10", "count": 12}
BAD = {"ip": "198.51.100.7", "count": 3, "dkim": "fail", "spf": "fail"}


def parsed(raw):
    return dr.find_reports(email.message_from_bytes(raw, policy=policy.SMTP))


@tagged("post_install", "-at_install")
class TestDmarcTools(BaseCase):

    @contextlib.contextmanager
    def refused(self, words):
        """The block raises a ReportError whose reason (in English) says ``words``."""
        with self.assertRaises(dr.ReportError) as caught:
            yield
        self.assertIn(words, dr.render(caught.exception, "en_US"))

    def test_rfc7489_google_zip(self):
        reports, errors = parsed(samples.google_mail("example.com", "r-1", BEGIN, [OK, BAD]))
        self.assertEqual(errors, [])
        [(kind, data)] = reports
        self.assertEqual(kind, "dmarc")
        self.assertEqual((data["org_name"], data["report_id"], data["domain"], data["version"], data["policy_p"]),
                         ("google.com", "r-1", "example.com", "rfc7489", "none"))
        self.assertEqual(data["date_begin"].timestamp() if False else data["date_begin"].isoformat(),
                         "2023-11-14T22:13:20")
        self.assertEqual([(line["source_ip"], line["count"], line["dmarc_pass"]) for line in data["lines"]],
                         [("192.0.2.10", 12, True), ("198.51.100.7", 3, False)])
        self.assertEqual(data["lines"][0]["dkim_domains"], "example.com:pass")

    def test_rfc9990_microsoft_gzip(self):
        reports, errors = parsed(samples.microsoft_mail("example.com", "m-1", BEGIN, [OK]))
        self.assertEqual(errors, [])
        [(kind, data)] = reports
        self.assertEqual((kind, data["version"], data["policy_p"], data["org_name"]),
                         ("dmarc", "rfc9990", "quarantine", "Enterprise Outlook"))
        self.assertEqual(data["lines"][0]["envelope_from"], "example.com")

    def test_tlsrpt(self):
        raw = samples.tlsrpt_mail("example.com", "t-1", BEGIN, [
            ("certificate-expired", "203.0.113.5", 100), ("starttls-not-supported", "203.0.113.6", 4),
            ("sts-policy-fetch-error", "203.0.113.7", 2)])
        reports, errors = parsed(raw)
        self.assertEqual(errors, [])
        [(kind, data)] = reports
        self.assertEqual((kind, data["domain"], data["tls_success_count"], data["tls_failure_count"]),
                         ("tlsrpt", "example.com", 5326, 106))
        self.assertEqual([line["tls_category"] for line in data["lines"]], ["certificate", "starttls", "sts"])

    def test_ordinary_mail_is_no_report(self):
        msg = email.message.EmailMessage()
        msg["Subject"] = "invoice"
        msg.set_content("hello")
        msg.add_attachment(samples.zipped("invoice.pdf", b"%PDF-1.4"), maintype="application",
                           subtype="zip", filename="invoice.zip")
        msg.add_attachment(b"<html><body/></html>", maintype="text", subtype="xml", filename="page.xml")
        # a large gzip that is no report is not unpacked (only its first bytes are looked at)
        big = samples.gzipped(b"\0" * (dr.MAX_DECOMPRESSED * 2))
        msg.add_attachment(big, maintype="application", subtype="gzip", filename="backup.tar.gz")
        started = time.monotonic()
        self.assertEqual(dr.find_reports(msg), ([], []))
        self.assertLess(time.monotonic() - started, 0.5)

    def test_zip_bomb(self):
        bomb = samples.zipped("google.com!example.com!1!2.xml", b"<" + b"a" * (dr.MAX_DECOMPRESSED + 10))
        with self.refused("zip bomb"):
            dr.read_attachment(bomb, named=True)
        started = time.monotonic()
        reports, errors = parsed(samples.report_mail(
            "noreply-dmarc-support@google.com", "dmarc-reports@example.com", "Report domain: example.com",
            bomb, "application", "zip", "google.com!example.com!1700000000!1700086399.zip"))
        self.assertEqual(reports, [])
        self.assertIn("zip bomb", dr.render(errors[0][1], "en_US"))
        self.assertLess(time.monotonic() - started, 10)

    def test_zip_lying_about_its_size(self):
        """The declared size is small, the data is not: what comes out is counted."""
        payload = samples.zipped("r.xml", b"<" + b"a" * 5000)
        archive = zipfile.ZipFile(io.BytesIO(payload))
        self.assertGreater(archive.infolist()[0].file_size, 1000)
        with self.refused("zip bomb"):
            dr.unpack(payload, limit=1000)

    def test_gzip_bomb(self):
        compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        chunk = b"\0" * (1 << 20)
        bomb = b"".join(compressor.compress(chunk) for _ in range(64)) + compressor.flush()
        self.assertLess(len(bomb), 200_000)
        with self.refused("gzip bomb"):
            dr.read_attachment(bomb, named=True)
        with self.refused("truncated"):
            dr.unpack(samples.gzipped(b"<feedback/>" * 100)[:40])

    def test_external_entity_and_billion_laughs(self):
        xxe = (b'<?xml version="1.0"?><!DOCTYPE feedback [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b"<feedback><report_metadata><org_name>&x;</org_name></report_metadata></feedback>")
        with self.refused("refused XML"):
            dr.parse_dmarc(xxe)
        laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><feedback>&lol2;</feedback>')
        with self.refused("refused XML"):
            dr.parse_dmarc(laughs)

    def test_malformed_report_gives_the_reason(self):
        xml = samples.rfc7489_xml("example.com", "x", BEGIN, [OK]).replace(b"<count>12</count>", b"<count>many</count>")
        with self.refused("row count"):
            dr.parse_dmarc(xml)
        with self.refused("malformed XML"):
            dr.read_attachment(b"<feedback><report_metadata>", named=True)
        with self.refused("IP address"):
            dr.parse_dmarc(samples.rfc7489_xml("example.com", "x", BEGIN, [dict(OK, ip="not-an-ip")]))
        with self.refused("session count"):
            dr.parse_tlsrpt(samples.tlsrpt_json("example.com", "t", BEGIN, [("certificate-expired", "192.0.2.1", -4)]))

    def test_judging(self):
        self.assertEqual(dr.source_kind("192.0.2.1", {"192.0.2.1"}, set()), "ours")
        self.assertEqual(dr.source_kind("192.0.2.9", set(), {"sendgrid.net"}, ["em123.sendgrid.net"]), "provider")
        self.assertEqual(dr.source_kind("192.0.2.9", set(), {"google.com"}, (), "mail-ua1.google.com"), "provider")
        self.assertEqual(dr.source_kind("192.0.2.9", set(), {"google.com"}, (), "google.com.evil.test"), "unknown")
        self.assertEqual(dr.next_policy("none", 99, 100, 30), "quarantine")
        self.assertEqual(dr.next_policy("quarantine", 98, 100, 31), "reject")
        self.assertIsNone(dr.next_policy("none", 97, 100, 30))
        self.assertIsNone(dr.next_policy("none", 100, 100, 29), "30 days of reports are needed")
        self.assertIsNone(dr.next_policy("reject", 100, 100, 60))
        self.assertEqual(dr.dmarc_record("none", "dmarc-reports@example.com"),
                         "v=DMARC1; p=none; rua=mailto:dmarc-reports@example.com")
        self.assertNotIn("ruf=", dr.dmarc_record("reject", "x@example.com"))
        self.assertEqual(dr.tlsrpt_record("dmarc-reports@example.com"),
                         "v=TLSRPTv1; rua=mailto:dmarc-reports@example.com")
        advice = [dr.render(text, "en_US") for text in dr.fixes({
            "source_ip": "192.0.2.1", "dkim_aligned": "fail", "spf_aligned": "fail",
            "dkim_domains": "sendgrid.net:pass", "spf_domains": "bounces.sendgrid.net:pass"}, "example.com")]
        self.assertIn("d=example.com", advice[0])
        self.assertIn("Return-Path", advice[1])
        advice = [dr.render(text, "en_US") for text in dr.fixes({
            "source_ip": "192.0.2.1", "dkim_aligned": "pass", "spf_aligned": "fail",
            "spf_domains": "example.com:fail"}, "example.com")]
        self.assertEqual(advice, ["SPF fails for example.com: add ip4:192.0.2.1 to the SPF record of example.com."])

    def test_linear_time_on_many_rows(self):
        records = [dict(OK, ip=f"192.0.2.{i % 250}") for i in range(5000)]
        xml = samples.rfc7489_xml("example.com", "big", BEGIN, records)
        started = time.monotonic()
        data = dr.parse_dmarc(xml)
        self.assertEqual(len(data["lines"]), 5000)
        self.assertLess(time.monotonic() - started, 5)
