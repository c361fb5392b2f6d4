# foundation
from . import test_foundation
from . import test_params
# issue 3: outgoing routing
# issue 4: bounces
from . import test_dsn_tools
from . import test_verp_tools
from . import test_bounce_flow
from . import test_bounce_mass_mailing
# issue 5: gateway guard
# issue 6: incoming servers
# issue 7: DNS checks
# issue 8: outgoing queue
