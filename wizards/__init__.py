from . import mail_routing_preview
