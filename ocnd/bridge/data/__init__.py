"""Example OCPI 2.2.1 objects (from the official OCPI examples) used by ocnd.bridge.examples."""
