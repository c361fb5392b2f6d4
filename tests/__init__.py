# foundation
from . import test_foundation
from . import test_params
# issue 3: outgoing routing
# issue 4: bounces
# issue 5: gateway guard
# issue 6: incoming servers
from . import test_fetchmail_tools
from . import test_fetchmail_imap
from . import test_fetchmail_pop
# issue 7: DNS checks
# issue 8: outgoing queue
