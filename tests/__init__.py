# foundation
from . import test_foundation
from . import test_params
from . import test_harness
# issue 3: outgoing routing
from . import test_from_filter
from . import test_outgoing_routing
from . import test_routing_preview
# issue 4: bounces
# issue 5: gateway guard
# issue 6: incoming servers
# issue 7: DNS checks
# issue 8: outgoing queue
from . import test_smtp_retry
from . import test_outgoing_queue
