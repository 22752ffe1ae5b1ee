"""simpool: Monte Carlo simulator for credit-guarantee and risk-compensation pools."""

__version__ = "0.1.0"
