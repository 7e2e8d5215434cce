"""`postinterview simulate`: run a scenario on the time-skipping server and draw what happened.

- scenario.py: the scenario file (TOML): the application's parties and its events at offsets.
- runner.py: the time-skipping server, a worker in this process, a throwaway store; the scenario
  is driven by skipping from one step or timer to the next.
- timeline.py: what the processes did, read back from their histories and the store, as entries
  with their simulated times; the text version.
- picture.py: the same timeline as a picture (SVG or PNG) a recruiter can read.
"""
