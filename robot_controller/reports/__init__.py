"""The compliance officer's printouts: a period's summary and the alert register, as CSV and
PDF, and the audit events as CSV."""
