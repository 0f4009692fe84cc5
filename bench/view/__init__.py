"""The live bench view: a local web page of the session while it runs (``--view``).

:mod:`~ventbench.bench.view.hub` holds what the page shows (samples on a session time
axis, breaths, the table, the protocol, link health, the pending prompt) in bounded
buffers fed from the acquisition pipeline; :mod:`~ventbench.bench.view.reduce` reduces a
window to min/max per pixel column; :mod:`~ventbench.bench.view.server` serves the page and
pushes frames (Server-Sent Events); :mod:`~ventbench.bench.view.live` and
:mod:`~ventbench.bench.view.operator` connect the runner's live lines and the operator's
prompts; :mod:`~ventbench.bench.view.options` is the ``--view`` command-line part.
"""
