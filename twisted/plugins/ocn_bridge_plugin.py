# twistd/twist plugin for the OCN Bridge.  Inert: the tap module is named by
# string, so enumerating plugins imports nothing heavy.
from twisted.application.service import ServiceMaker

ocn_bridge = ServiceMaker(
    "ocn-bridge",
    "ocnd.bridge.tap",
    "OCN Bridge: connect a CPO/eMSP backoffice to an Open Charging Network node",
    "ocn-bridge",
)
