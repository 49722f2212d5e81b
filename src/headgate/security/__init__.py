"""Who may do what, and what was done: encrypted secrets and the tamper-evident audit log."""
