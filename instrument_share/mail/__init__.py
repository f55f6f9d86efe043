"""Transactional mail outbox, sent after commit by the scheduler."""
