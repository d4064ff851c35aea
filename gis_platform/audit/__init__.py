"""The audit log: who wrote what, when, with the layer versions before and after (``catalogue.audit_log``)."""
