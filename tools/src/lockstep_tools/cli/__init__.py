"""``lockstep``: the admin and vendor command line (X8), over the same admin API the console
uses (``/api/v1``). ``main.main`` is the console script."""
