"""Routing: the rules file (``config``), the route tree (``matcher``), per-receiver grouping
(``grouping``) and the route stage that turns an enriched event into delivery jobs (``stage``).
"""
