# foundation
from . import test_foundation
from . import test_params
from . import test_harness
# issue 3: outgoing routing
# issue 4: bounces
# issue 5: gateway guard
from . import test_autoreply_tools
from . import test_gateway_guard
from . import test_quarantine
# issue 6: incoming servers
# issue 7: DNS checks
from . import test_dns_health_tools
from . import test_dns_check
# issue 8: outgoing queue
