"""OCN Tools: mock OCPI parties and a local demo network.

* :mod:`ocnd.tools.mock` -- :class:`MockCpo` and :class:`MockMsp`, bridge
  backoffices built by composition on :mod:`ocnd.bridge.examples` that keep a
  journal of what happens and simulate a busy network (EVSE status changes,
  periodic sessions);
* :mod:`ocnd.tools.control` -- the small loopback JSON control API of a mock
  (``--control``), used by ``ocn demo`` and handy with ``curl``;
* :mod:`ocnd.tools.cpo_tap`, :mod:`ocnd.tools.msp_tap` -- ``twistd
  ocn-mock-cpo`` / ``twistd ocn-mock-msp``;
* :mod:`ocnd.tools.demo` -- ``ocn demo``: two nodes, one chain, a mock CPO and
  a mock eMSP as subprocesses, and a scripted charging day.
"""
