"""Stage 4 of the pipeline: per-path results to figures with Monte Carlo standard errors.

``simulation`` (``simulate``: plan, run and collect), ``features`` (the summary's mean-type
figures, reduced chunk by chunk), ``results`` (:class:`Results`: samples and the tidy
summary), ``stats`` (EL, VaR, ES, probabilities and their standard errors), ``headline``
(the figures read first), ``contributions`` (risk contributions), and the what-if tools
``compare`` (common random numbers), ``solve`` (goal-seeking) and ``sensitivity`` (tornado,
Sobol). Imports the engine and the scenario stage, never the outputs.
"""
