"""The provable log: signed checkpoints of the audit chain, their verification, and pruning
after the retention period (the chain itself is `robot_controller.store.audit`)."""
