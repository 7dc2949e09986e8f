"""OCN Registry: contract artifacts, embedded dev chain, client and snapshot."""
