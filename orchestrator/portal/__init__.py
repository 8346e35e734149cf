"""Portal: the pages parents see, reached through their personal link.

A parent has one personal link ``/p/<secret>`` (192 random bits, only the hash stored, revocable
and re-issued by the coordinator). It opens their page in their language with one big join
button; the join endpoint ``/p/<secret>/s/<session>`` decides (through ``orchestrator.conference``)
whether they see a countdown, a waiting page or the room. Coordinators issue links and print
handouts with a QR code here too.
"""
