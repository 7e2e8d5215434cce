"""What we know of the ATSs' APIs (Greenhouse Harvest, Lever, Ashby), one module per vendor: where
its API is and the settings that hold its key, how to ask it who is behind an application
(the enrichment, activities/enrichment.py) and how to write a note on its record (the
`write_ats_note` channel, activities/delivery.py through notes.py).

The webhooks' formats are not here: they are the intake's (intake/adapters/)."""

from __future__ import annotations

from activities.ats_api import ashby, greenhouse, lever
from activities.ats_api.vendor import VendorApi

# The ATSs whose API we call, by the source name of their processes.
VENDORS: dict[str, VendorApi] = {api.name: api for api in (greenhouse.API, lever.API, ashby.API)}
