"""An estate's feed as a whole: when every device of an estate falls silent at once, the cause is
upstream of them — the estate's uplink, the broker, the gateway's own intake, a simulator its host
held back — and the messages of that time are late, not missing.

So the engine does not judge an estate by its timers while the estate is silent as a whole:
after the feed rule's ``quiet_s`` (see ``alerts.rules.FeedRule``) its offline deadlines, on-delays
and patrol rounds wait, and when messages come again they wait ``quiet_s`` more for the rest of
the backlog. A silence that lasts ``for_s`` raises one estate-wide alert, ``estate.feed_lost``;
the timers then run, and what they raise is suppressed under it instead of one offline alarm per
device. The first message clears it; what is still under it is shown again ``quiet_s`` later, by
when the devices that are back have cleared their own (an alert cleared while suppressed closes
unseen: alerts/book.py).

An estate too small to tell a lost feed from a quiet hour (its heartbeats add up to fewer than
``min_expected`` messages in ``quiet_s``, even stretched to ``for_s``) is left to its devices' own
deadlines.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from alerts.engine_core import EngineCore
from alerts.model import alert_key
from alerts.topology import FEED_LOST_RULE, FEED_LOST_TAG
from devices.base import Reading


class FeedWatch(EngineCore):
    def _start_feeds(self, now: datetime) -> None:
        """The estates the feed rule can judge, from their first message on: a gateway started
        before its devices has not lost them."""
        for estate in self.inventory.estates:
            rule = self.rules[estate.id].feed
            beats = [d.effective_heartbeat_s() for d in estate.devices]
            rate = sum(1.0 / b for b in beats if b)  # heartbeats a second, the estate's least
            if rule is None or rate == 0:
                continue
            quiet = max(rule.quiet_s, rule.min_expected / rate)
            if quiet < rule.for_s:
                self._quiet_s[estate.id] = quiet  # judged once heard from: not before its first word

    def _restore_feed(self, estate: str) -> None:
        """An open feed alert from before a restart: the feed is still lost until a message (or
        the rule no longer judges the estate: then it is cleared)."""
        if estate in self._quiet_s:
            self.topology.feed_lost.setdefault(estate, self.clock.now())
        else:
            self.book.clear(alert_key(estate, None, FEED_LOST_RULE))

    def _hear(self, readings: Sequence[Reading], now: datetime) -> None:
        """Before the readings are judged: a silence they end, and a lost feed they restore."""
        for estate in {r.estate for r in readings}:
            if estate not in self._quiet_s:
                continue
            last = self._heard.get(estate, now)
            self._heard[estate] = now
            lost = self.topology.feed_lost.pop(estate, None) is not None
            if lost:
                self.book.clear(alert_key(estate, None, FEED_LOST_RULE))
            if lost or now - last >= timedelta(seconds=self._quiet_s[estate]):
                self._resumed[estate] = now  # the rest of the backlog may still be on its way

    def _feeds(self, now: datetime) -> dict[str, datetime]:
        """The estates whose timers wait now, each with when to look again; raises lost feeds and
        shows again what was suppressed under one once its backlog had time to come in."""
        held: dict[str, datetime] = {}
        for estate, quiet_s in self._quiet_s.items():
            rule = self.rules[estate].feed
            quiet = timedelta(seconds=quiet_s)
            last = self._heard.get(estate)
            if last is None:
                continue  # not heard from since the gateway started: its devices' own deadlines
            if rule is not None and now - last >= timedelta(seconds=rule.for_s):
                if estate not in self.topology.feed_lost:
                    self.topology.feed_lost[estate] = last
                    found = self.inventory.estate(estate)
                    local = last.astimezone(found.tz) if found else last
                    self._raise(estate, None, rule, since=f"{local:%m-%d %H:%M:%S}")
                    self._hide_since(estate, last)
            elif now - last >= quiet:
                held[estate] = now + quiet
            elif estate in self._resumed:
                if now < self._resumed[estate] + quiet:
                    held[estate] = self._resumed[estate] + quiet
                else:
                    del self._resumed[estate]
                    self._show_again(estate)
        return held

    def _hide_since(self, estate: str, last: datetime) -> None:
        """What the silence raised before it was called lost (a device whose deadline fell in the
        first ``quiet_s``) goes under the feed alert too: nothing came from the estate since."""
        reason = self.topology.feed_reason(estate)
        if reason is None:
            return
        for alert in self.book.open_alerts():
            mine = alert.estate == estate and alert.rule != FEED_LOST_RULE
            if mine and alert.raised_at > last and alert.suppressed_by is None and alert.active:
                self.book.suppress(alert.key, reason)

    def _show_again(self, estate: str) -> None:
        """What is still suppressed under the lost feed is shown (those of devices that are back
        cleared, and so closed unseen, before this)."""
        for alert in self.book.open_alerts():
            if alert.estate == estate and (alert.suppressed_by or "").startswith(FEED_LOST_TAG):
                self.book.unsuppress(alert.key)
