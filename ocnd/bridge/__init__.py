"""OCN Bridge: connect one OCPI backoffice (CPO or eMSP) to an OCN node.

Typical use::

    from ocnd.bridge import Bridge, BridgeConfig
    bridge = Bridge(BridgeConfig(...), my_backoffice, registry=registry_client)
    bridge.startService(); await bridge.ready
    await bridge.push_session(("NL", "MSP"), session)

See :mod:`ocnd.bridge.backoffice` for the interface a backoffice implements
and ``docs/bridge.md`` for an overview.
"""

from .backoffice import (BackofficeError, ChargingProfileResponse, CommandResponse, MissingImplementation,
                         NotEnoughInformation, Page, UnknownToken)
from .client import OcpiRequestError, SignatureError
from .config import BridgeConfig
from .service import Bridge, RegistrationError

__all__ = ["Bridge", "BridgeConfig", "Page", "CommandResponse", "ChargingProfileResponse", "BackofficeError",
           "UnknownToken", "NotEnoughInformation", "MissingImplementation", "OcpiRequestError",
           "SignatureError", "RegistrationError"]
