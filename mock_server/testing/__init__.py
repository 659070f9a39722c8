"""Using the simulator from tests: in process, as a live server on loopback, and as the
``together_sim`` pytest plugin."""
