"""People get paged (issue 23): alarms and work orders from the alarm core's outbox, routed by the
inventory's ``notifications:`` section to WeCom and DingTalk robots, SMS, webhooks and e-mail.

``routing`` (pure) picks the channels of an event, ``messages`` (pure) words it, ``store`` keeps
every delivery (one row per channel and event id), ``limiter`` holds each channel to its rate and
merges the overflow into digests, ``notifier`` is the stage that runs it all on one thread.
"""
