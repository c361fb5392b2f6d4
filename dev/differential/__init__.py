"""Differential run: the same inbound and outbound scenarios on stock Odoo 18 and on the addon.

`run.py` is the entry point (see its docstring); `deliberate.py` is the table of the
differences we chose.
"""
