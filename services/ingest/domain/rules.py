"""A seller's own rules (SPEC section 4): what happens to a new dispute below an amount.

`accept`: the case is conceded at once (status accepted, no reminders, a notification says so);
`flag`: it is only marked for a quick look. The threshold is in one currency: a dispute in
another currency is never auto-accepted (no guessing at exchange rates for a concession).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class AutoAction(StrEnum):
    accept = "accept"
    flag = "flag"


@dataclass(frozen=True)
class AutoAcceptRule:
    below: Decimal
    currency: str
    mode: AutoAction = AutoAction.accept

    def action_for(self, amount: Decimal, currency: str) -> AutoAction | None:
        """The rule's action for a new dispute of `amount` `currency`, or None when it does not apply."""
        if currency != self.currency or amount >= self.below:
            return None
        return self.mode
