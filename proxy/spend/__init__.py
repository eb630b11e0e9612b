"""Spend control: prices, request cost, budgets (reserve, then settle), spend ledger."""
