# foundation
from . import ir_config_parameter
from . import mail_gateway_quarantine
from . import mail_alias_domain
from . import mail_mail
from . import mail_thread
# issue 3: outgoing routing
from . import ir_mail_server
# issue 4: bounces
# issue 5: gateway guard
# issue 6: incoming servers
# issue 7: DNS checks
# issue 8: outgoing queue
from . import ir_mail_server_queue
