"""Report samples built here in the published formats (written for these tests, copied from
nowhere), and the e-mails receivers wrap them in.

* :func:`rfc7489_xml`: the aggregate report of RFC 7489 appendix C (no namespace, ``pct``).
* :func:`rfc9990_xml`: the RFC 9990 schema (namespace ``urn:ietf:params:xml:ns:dmarc-2.0``,
  ``version``, ``generator``, ``np``, ``testing``, ``discovery_method``, no ``pct``).
* :func:`tlsrpt_json`: the JSON report of RFC 8460 section 4.4 (its example's field names).
* :func:`google_mail`: Google's shape: From noreply-dmarc-support@google.com, Subject
  "Report domain: ... Submitter: google.com Report-ID: ...", one ``application/zip`` named
  ``google.com!<domain>!<begin>!<end>.zip``.
* :func:`microsoft_mail`: Microsoft's shape: From dmarcreport@microsoft.com, one
  ``application/gzip`` named ``enterprise.protection.outlook.com!<domain>!<begin>!<end>.xml.gz``.
* :func:`tlsrpt_mail`: RFC 8460 section 5.3: ``multipart/report; report-type=tlsrpt``,
  TLS-Report-Domain and TLS-Report-Submitter headers, ``application/tlsrpt+gzip`` named
  ``<submitter>!<domain>!<begin>!<end>!<id>.json.gz``.
"""
import datetime
import gzip
import io
import json
import zipfile
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

DAY = 86400


def record_xml(ip, count, dkim="pass", spf="pass", header_from="example.com", dkim_domain=None,
               spf_domain=None, disposition="none", selector="s1", ns9990=False):
    dkim_domain = header_from if dkim_domain is None else dkim_domain
    spf_domain = header_from if spf_domain is None else spf_domain
    envelope = f"<envelope_from>{spf_domain}</envelope_from>" if ns9990 else ""
    raw_dkim = "pass" if dkim == "pass" or dkim_domain != header_from else "fail"
    raw_spf = "pass" if spf == "pass" or spf_domain != header_from else "fail"
    return f"""
  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>{disposition}</disposition>
        <dkim>{dkim}</dkim>
        <spf>{spf}</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>{header_from}</header_from>{envelope}
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{dkim_domain}</domain>
        <selector>{selector}</selector>
        <result>{raw_dkim}</result>
      </dkim>
      <spf>
        <domain>{spf_domain}</domain>{"<scope>mfrom</scope>" if ns9990 else ""}
        <result>{raw_spf}</result>
      </spf>
    </auth_results>
  </record>"""


def rfc7489_xml(domain, report_id, begin, records, org="google.com", policy="none"):
    """RFC 7489 appendix C. ``records``: dicts of :func:`record_xml` arguments."""
    rows = "".join(record_xml(**dict({"header_from": domain}, **rec)) for rec in records)
    return f"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>noreply-dmarc-support@{org}</email>
    <extra_contact_info>https://support.{org}/a/answer/2466580</extra_contact_info>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{begin + DAY - 1}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>{policy}</p>
    <sp>{policy}</sp>
    <pct>100</pct>
  </policy_published>{rows}
</feedback>
""".encode()


def rfc9990_xml(domain, report_id, begin, records, org="Enterprise Outlook", policy="quarantine"):
    rows = "".join(record_xml(**dict({"header_from": domain, "ns9990": True}, **rec)) for rec in records)
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">
  <version>1.0</version>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>dmarcreport@microsoft.com</email>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{begin + DAY}</end>
    </date_range>
    <generator>sample generator 1.0</generator>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain>
    <p>{policy}</p>
    <sp>{policy}</sp>
    <np>reject</np>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <discovery_method>treewalk</discovery_method>
    <testing>n</testing>
  </policy_published>{rows}
</feedback>
""".encode()


def tlsrpt_json(domain, report_id, begin, failures=(), org="Company-X", success=5326):
    """RFC 8460 section 4.4. ``failures``: (result-type, sending IP, sessions)."""
    start = datetime.datetime.fromtimestamp(begin, datetime.UTC)
    return json.dumps({
        "organization-name": org,
        "date-range": {"start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "end-datetime": (start + datetime.timedelta(seconds=DAY - 1)).strftime("%Y-%m-%dT%H:%M:%SZ")},
        "contact-info": "sts-reporting@company-x.example",
        "report-id": report_id,
        "policies": [{
            "policy": {"policy-type": "sts",
                       "policy-string": ["version: STSv1", "mode: testing", f"mx: mx.{domain}", "max_age: 86400"],
                       "policy-domain": domain, "mx-host": [f"mx.{domain}"]},
            "summary": {"total-successful-session-count": success,
                        "total-failure-session-count": sum(n for _t, _ip, n in failures)},
            "failure-details": [{"result-type": result, "sending-mta-ip": ip,
                                 "receiving-mx-hostname": f"mx.{domain}",
                                 "receiving-ip": "203.0.113.56", "failed-session-count": count,
                                 "additional-information": "https://reports.company-x.example/",
                                 "failure-reason-code": "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED"}
                                for result, ip, count in failures],
        }],
    }, indent=2).encode()


def zipped(name, data):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def gzipped(data):
    return gzip.compress(data, mtime=0)


def report_mail(sender, to, subject, attachment, maintype, subtype, filename, headers=None):
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-Id"] = make_msgid(domain=sender.rpartition("@")[2].rstrip(">"))
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content("This is an aggregate report.\n")
    msg.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def google_mail(domain, report_id, begin, records, to=None, policy="none"):
    xml = rfc7489_xml(domain, report_id, begin, records, policy=policy)
    name = f"google.com!{domain}!{begin}!{begin + DAY - 1}"
    return report_mail("noreply-dmarc-support@google.com", to or f"dmarc-reports@{domain}",
                       f"Report domain: {domain} Submitter: google.com Report-ID: {report_id}",
                       zipped(f"{name}.xml", xml), "application", "zip", f"{name}.zip")


def microsoft_mail(domain, report_id, begin, records, to=None, policy="quarantine"):
    xml = rfc9990_xml(domain, report_id, begin, records, policy=policy)
    name = f"enterprise.protection.outlook.com!{domain}!{begin}!{begin + DAY}"
    return report_mail("DMARC Aggregate Report <dmarcreport@microsoft.com>", to or f"dmarc-reports@{domain}",
                       f"Report Domain: {domain} Submitter: enterprise.protection.outlook.com "
                       f"Report-ID: {report_id}",
                       gzipped(xml), "application", "gzip", f"{name}.xml.gz")


def tlsrpt_mail(domain, report_id, begin, failures, to=None):
    data = tlsrpt_json(domain, report_id, begin, failures)
    msg = EmailMessage()
    msg["From"] = "tls-reporting@company-x.example"
    msg["To"] = to or f"dmarc-reports@{domain}"
    msg["Subject"] = f"Report Domain: {domain} Submitter: company-x.example Report-ID: <{report_id}>"
    msg["Date"] = formatdate(usegmt=True)
    msg["Message-Id"] = make_msgid(domain="company-x.example")
    msg["TLS-Report-Domain"] = domain
    msg["TLS-Report-Submitter"] = "company-x.example"
    msg.set_content("This is an aggregate TLS report from company-x.example\n")
    msg.add_attachment(gzipped(data), maintype="application", subtype="tlsrpt+gzip",
                       filename=f"company-x.example!{domain}!{begin}!{begin + DAY - 1}!{report_id}.json.gz")
    msg.set_type("multipart/report")
    msg.set_param("report-type", "tlsrpt")
    return msg.as_bytes()
