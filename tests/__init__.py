# foundation
from . import test_foundation
from . import test_params
from . import test_harness
# outgoing routing
from . import test_from_filter
from . import test_outgoing_routing
from . import test_routing_preview
from . import test_routing_story
# bounces
from . import test_dsn_tools
from . import test_dsn_linear
from . import test_verp_tools
from . import test_bounce_flow
from . import test_bounce_retention
from . import test_bounce_mass_mailing
# gateway guard
from . import test_autoreply_tools
from . import test_gateway_guard
from . import test_quarantine
from . import test_inbound_samples
from . import test_inbound_entrances
# incoming servers
from . import test_fetchmail_tools
from . import test_fetchmail_imap
from . import test_fetchmail_pop
# DNS checks
from . import test_dns_tools
from . import test_dns_check
from . import test_dns_spf_suite
# outgoing queue and the immediate send
from . import test_smtp_retry
from . import test_outgoing_queue
from . import test_immediate_send
# MX gateway
from . import test_mailgate_tools
from . import test_mailgate_script
from . import test_mailgate_postfix
# screens
from . import test_screens
from . import test_overview_servers
from . import test_tours
from . import test_i18n
from . import test_screens_words
# reply keys
from . import test_reply_key_tools
from . import test_reply_keys
# DMARC and TLS reports
from . import test_dmarc_tools
from . import test_dmarc_reports
from . import test_dmarc_entrances
from . import test_corpus_entrances
