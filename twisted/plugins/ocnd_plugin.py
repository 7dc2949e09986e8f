# twistd/twist plugin for ocnd.  Kept inert: the tap module is named by string
# so enumerating plugins imports nothing heavy (and never the reactor).
from twisted.application.service import ServiceMaker

ocnd = ServiceMaker(
    "ocnd",
    "ocnd.tap",
    "Open Charging Network node (OCPI 2.2/2.2.1 hub)",
    "ocnd",
)
