"""Reconciliation (对账): per unit and fund, entitlement − prepaid = balance; the statement lines
with their payer; the bureau's check; the flow of funds per community.

``core`` (the identity, the statement, the checks), ``lines`` (statement lines per fund, who
pays them), ``bureau`` (the bureau's top-down view), ``flows`` (money owed, paid outside,
paid to units, advances, year end).
"""

from settlement.reconcile.core import Reconciliation, ReconciliationError, reconcile

__all__ = ["Reconciliation", "ReconciliationError", "reconcile"]
