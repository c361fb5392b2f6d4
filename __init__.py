from . import models
from . import wizards
# MX gateway
from . import controllers
