# twistd/twist plugins for the OCN Tools mock parties.  Inert: the tap modules
# are named by string, so enumerating plugins imports nothing heavy.
from twisted.application.service import ServiceMaker

ocn_mock_cpo = ServiceMaker(
    "ocn-mock-cpo",
    "ocnd.tools.cpo_tap",
    "OCN Tools: a mock CPO (example chargers, simulated charging) on an OCN node",
    "ocn-mock-cpo",
)

ocn_mock_msp = ServiceMaker(
    "ocn-mock-msp",
    "ocnd.tools.msp_tap",
    "OCN Tools: a mock eMSP (tokens, stores pushes, starts sessions) on an OCN node",
    "ocn-mock-msp",
)
