"""The warm engine behind a Unix socket: `server` runs it, `client` finds, starts and asks it."""
