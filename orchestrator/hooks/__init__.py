"""Conference webhooks in: authenticate, store durably in the inbox, acknowledge, nudge the workers."""
