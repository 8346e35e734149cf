"""Retention and data-subject rights: what expires when, and a parent's export and erasure."""
