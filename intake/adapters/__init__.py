"""One adapter per sender: verify its signature, map its payload to canonical events.

The public API is `intake.senders` (Delivery, PayloadError, Sender, senders); these modules
hold each vendor's payload models and mapping, documented at the top of each.
"""

from intake.adapters.ashby import AshbySender
from intake.adapters.events import EventsSender
from intake.adapters.greenhouse import GreenhouseSender
from intake.adapters.lever import LeverSender

__all__ = ["AshbySender", "EventsSender", "GreenhouseSender", "LeverSender"]
