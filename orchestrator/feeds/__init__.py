"""Feeds: each person's calendar subscription, served from a secret, revocable URL.

A feed secret (``AccessSecret`` with purpose ``"feed"``, 192 random bits, only its hash stored)
belongs to one person and one scope: a parent (the sessions of their groups, in their language),
a facilitator (the sessions they lead) or a coordinator (the centre's sessions, or chosen groups;
no parent data). ``/feeds/<secret>.ics`` answers with the RFC 5545 bytes that the pure
``calendars`` library renders from the database rows.

Subscribed calendars poll, mostly for nothing. So every request asks the database one cheap
question first - "which version of this feed's data is current?" (``probe``) - and answers from
rendered, gzipped bytes kept per version in the process (``cache``); only a changed version is
rendered again. ``services`` holds the use cases (building the feed input, issuing and revoking
feed secrets), ``links`` the URLs, ``http`` the conditional-request and compression rules, and
``views`` the routes.

Parents reach their feed from their personal page. Only hashes of secrets are stored, so the page
cannot look up a parent's feed address; instead the parent's feed secret is *derived* from their
personal secret (``links.derive_parent_feed_secret``) whenever the parent opens
``/p/<personal secret>/calendar``, and stays the same on every visit. The join links inside a
parent's feed lead through the feed secret (``/feeds/<secret>/join/...``) to the same join
decision as the personal page (``orchestrator.conference``).
"""
