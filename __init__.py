from . import models
from . import wizards
# issue 10: MX gateway
from . import controllers
