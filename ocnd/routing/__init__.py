"""Routing of OCPI functional-module requests between parties and nodes."""
