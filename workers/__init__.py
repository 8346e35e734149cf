"""The Celery side of the service: event processing, finalisation, notifications, retention.

Tasks call ``orchestrator`` use cases with a sync session from this process's engine; they hold
no domain logic of their own.
"""
