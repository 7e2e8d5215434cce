"""The recruiter's side of the engine: the task API, the inbox page, and the signed links in
messages to candidates and referees. Served by the same HTTP service as the webhook intake."""
