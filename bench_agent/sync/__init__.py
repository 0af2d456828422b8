"""Agent side of the ledger: enrolment, durable outbox, sender."""
