"""careflow's notification layer: every message stored first, sent verified, within each platform's limits.

====================  ==========================================================================
module                holds
====================  ==========================================================================
``render``            message contexts (no name, no ID field), Jinja2 rendering, the personal-data check
``letters``           the printable referral letter (转介单), HTML
``channels``          the channel file: units, roles, event routing, endpoints, limits, digest settings
``channel_urls``      one apprise URL: its schema, whether apprise can use it
``default_channels``  the channel file written when there is none (everything to the local mail sink)
``routing``           channel keys (``<unit>[.<role>]``) and who receives an event
``redaction``         secrets out of logs, pages and errors
``limits``            token buckets per channel URL, the platforms' documented limits
``verify``            reading a chat platform's answer (error code in an HTTP 200 body); API host re-pointing
``deliver``           one message to a list of apprise URLs, verified and rate-limited, per-URL results
``messages``          what a message about a task says; storing it once; the alert when one is given up
``outbox_batch``      many task messages rendered, then stored in one go (the deadline sweep's batches)
``outbox``            claim, send, record per URL, retry with backoff, give up with an alert; what is due
``digest``            burst digests and daily digests (members parked, settled with the digest)
``dispatcher``        everything due, in parallel across recipients (the sweeper's step)
``sink``              the local SMTP server (the embedded default channel)
``receiver``          a local HTTP server answering like DingTalk, WeCom and Feishu (tests, benchmark)
====================  ==========================================================================
"""
