"""Privacy: erasing a candidate (erasure.py) and keeping intake payloads no longer than needed
(the retention purge, store.intake_store.IntakeStore.purge_payloads, run by the intake's
forwarder and `postinterview intake purge`). Crypto-shredding of Temporal histories is the
codec's (codec/data_keys.py). README: "Privacy"."""
