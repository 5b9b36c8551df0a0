"""nurture: a marketing-automation nurture engine.

Declarative campaigns, a lead score of fit plus decaying behaviour, MQL routing to sales and the
SLA that holds both sides to their word.
"""

__version__ = "0.1.0"
