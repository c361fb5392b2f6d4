# foundation
from . import test_foundation
from . import test_params
from . import test_harness
# issue 3: outgoing routing
# issue 4: bounces
# issue 5: gateway guard
# issue 6: incoming servers
# issue 7: DNS checks
# issue 8: outgoing queue
# issue 10: MX gateway
from . import test_mailgate_tools
from . import test_mailgate_script
from . import test_mailgate_postfix
