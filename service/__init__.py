"""The runnable processes' plumbing: what wires the engine's parts into the processes that run.

- `service.settings`: one typed model of every environment variable (pydantic-settings), read
  once at each entry point and passed down; the components' own config objects are built there.
- `service.http`: the HTTP service, the webhook intake and the recruiters' side (task API, inbox,
  answer links) mounted side by side on one app.
- `service.codec_server`: the codec endpoint the Temporal UI decrypts payloads through.
- `service.log_setup`: JSON logs, configured once at start-up.
- `service.embedded_http`: serving an ASGI app beside other work in one process.

The worker's entry point is worker.py at the root; the CLI's commands are in cli/. Everything
here may import every other package of the engine; nothing else imports service/, except those
entry points.
"""
