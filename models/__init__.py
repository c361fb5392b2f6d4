# foundation
from . import ir_config_parameter
from . import mail_gateway_quarantine
from . import mail_alias_domain
from . import mail_mail
from . import mail_notification
from . import mail_thread
from . import mail_thread_blacklist
# outgoing routing
from . import ir_mail_server
# bounces
from . import mail_bounce_event
from . import res_partner
# gateway guard
from . import mail_gateway_receipt
# incoming servers
from . import fetchmail_server
from . import fetchmail_server_folder
from . import fetchmail_message_key
# DNS checks
from . import mail_alias_domain_check
# outgoing queue
from . import mail_mail_handover
from . import mail_server_status
# screens
from . import mail_deliverability_overview
from . import mail_deliverability_activity
from . import res_config_settings
# DMARC and TLS reports
from . import mail_dmarc_report
from . import mail_dmarc_report_line
