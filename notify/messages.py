"""Notices and digests in words (pure): zh-CN by default, English per route.

Short, in words people read on a phone: the estate's name, the building and the device's location
(not ids where the inventory has names), what happened (the alarm's own message), the severity,
the time in the estate's time zone, and a link to the console.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from devices.base import Severity
from devices.inventory import Inventory
from devices.notifications import NotifyEvent
from notify.channels.base import Message
from notify.routing import RANK, Notice

#: Said on a retry of a request that was in flight when the gateway stopped.
REPEAT = {"zh-CN": "（网关重启前可能已发出，如重复请忽略）", "en": "(may repeat one sent before a restart)"}
SEVERITY = {
    "zh-CN": {"critical": "紧急", "major": "重要", "minor": "次要", "info": "提示"},
    "en": {"critical": "CRITICAL", "major": "major", "minor": "minor", "info": "info"},
}
KIND = {
    "zh-CN": {
        "lift": "电梯",
        "water_tank": "二次供水",
        "access": "门禁",
        "light": "照明",
        "cctv": "监控",
        "patrol": "巡更",
    },
    "en": {
        "lift": "lift",
        "water_tank": "water tank",
        "access": "access",
        "light": "lighting",
        "cctv": "CCTV",
        "patrol": "patrol",
    },
}
EVENT = {
    "zh-CN": {
        NotifyEvent.RAISE: "告警",
        NotifyEvent.ESCALATE: "告警升级（未确认）",
        NotifyEvent.CLEAR: "告警恢复",
        NotifyEvent.ORDER_ASSIGNED: "新工单",
        NotifyEvent.ORDER_BREACHED: "工单超时",
    },
    "en": {
        NotifyEvent.RAISE: "alarm",
        NotifyEvent.ESCALATE: "alarm escalated (unacknowledged)",
        NotifyEvent.CLEAR: "alarm cleared",
        NotifyEvent.ORDER_ASSIGNED: "new work order",
        NotifyEvent.ORDER_BREACHED: "work order overdue",
    },
}
LABELS = {
    "zh-CN": {
        "estate": "小区",
        "where": "位置",
        "what": "内容",
        "level": "级别",
        "time": "时间",
        "link": "在控制台查看",
        "grounds": "公共区域",
    },
    "en": {
        "estate": "Estate",
        "where": "Where",
        "what": "What",
        "level": "Severity",
        "time": "Time",
        "link": "Open in the console",
        "grounds": "grounds",
    },
}


class Words:
    def __init__(self, inventory: Inventory, console_url: str) -> None:
        self.inventory, self.console = inventory, console_url.rstrip("/")

    def estate_name(self, estate_id: str) -> str:
        estate = self.inventory.estate(estate_id)
        return estate.name if estate is not None else estate_id

    def _tz(self, estate_id: str) -> ZoneInfo:
        estate = self.inventory.estate(estate_id)
        return estate.tz if estate is not None else ZoneInfo("Asia/Shanghai")

    def place(self, n: Notice, lang: str) -> str:
        """Building and device in words: 1号楼 · 一单元大门 (the device's location, else its kind
        and id), or the grounds."""
        device_id, building = n.body.get("device"), n.body.get("building")
        device = self.inventory.device(n.estate, device_id) if device_id else None
        kind = KIND[lang].get(n.kind or "", "")
        thing = (
            device.location if device is not None and device.location else f"{kind} {device_id or ''}".strip()
        )
        parts = [
            f"{building}{'号楼' if lang == 'zh-CN' and str(building).isdigit() else ''}" if building else ""
        ]
        parts.append(thing or LABELS[lang]["grounds"])
        return " · ".join(p for p in parts if p)

    def what(self, n: Notice, lang: str) -> str:
        if n.order_id is not None:
            return str(n.body.get("title") or n.body.get("description") or "")
        key = "message" if lang == "zh-CN" else "message_en"
        return str(n.body.get(key) or n.body.get("message") or n.rule or "")

    def link(self, n: Notice) -> str:
        if n.order_id is not None:
            return f"{self.console}/#/orders"
        return (
            f"{self.console}/#/alarm/{n.alert_id}" if n.alert_id is not None else f"{self.console}/#/alarms"
        )

    def local_time(self, estate: str, at: datetime, lang: str) -> str:
        return at.astimezone(self._tz(estate)).strftime("%m-%d %H:%M" if lang == "zh-CN" else "%d %b %H:%M")

    def message(self, n: Notice, lang: str, at: datetime) -> Message:
        label, level = LABELS[lang], SEVERITY[lang][n.severity.value]
        estate, place, what = self.estate_name(n.estate), self.place(n, lang), self.what(n, lang)
        when = self.local_time(n.estate, at, lang)
        event = EVENT[lang][n.event]
        title = f"【{level}】{estate} {event}" if lang == "zh-CN" else f"[{level}] {estate}: {event}"
        link = self.link(n)
        text = "\n".join(
            [
                f"> {label['estate']}：{estate}" if lang == "zh-CN" else f"> {label['estate']}: {estate}",
                _line(label["where"], place, lang),
                _line(label["what"], what, lang),
                _line(label["level"], level, lang),
                _line(label["time"], when, lang),
                f"[{label['link']}]({link})",
            ]
        )
        variables = {"estate": estate, "place": place, "alarm": what, "level": level, "time": when}
        body = {**n.body, "event_id": n.event_id, "event": n.event.value, "link": link}
        return Message(title, text, n.severity, link, variables, body)

    @staticmethod
    def maybe_repeat(message: Message, lang: str) -> Message:
        """A message whose first request was in flight when the gateway stopped: it may have gone
        out already, so the retry says so (a webhook gets ``"repeat": true`` and the same event id)."""
        note = REPEAT[lang]
        title = f"{message.title} {note}"
        body = {**message.body, "repeat": True}
        return replace(message, title=title, text=f"{message.text}\n> {note}", body=body)

    def test(self, channel: str, by: str, at: datetime) -> Message:
        """The admin's "send test message": says which channel, who asked, when."""
        when = at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M")
        lines = [f"> 通道 Channel：{channel}", f"> 发起 By：{by}", f"> 时间 Time：{when}"]
        text = "\n".join([*lines, f"[在控制台查看]({self.console}/)"])
        variables = {
            "estate": "测试",
            "place": channel[:20],
            "alarm": "测试消息 test",
            "level": "提示",
            "time": when,
        }
        body = {"type": "test", "event_id": f"test-{int(at.timestamp())}", "channel": channel, "by": by}
        return Message(
            "【测试】物业网关通知测试 Test message", text, Severity.INFO, f"{self.console}/", variables, body
        )

    def digest(
        self, notices: Sequence[tuple[str, Notice]], lang: str, digest_id: str, at: datetime
    ) -> Message:
        """Many notices as one message: per estate how many, by severity, the worst few named."""
        worst = max((n.severity for _, n in notices), key=RANK.__getitem__)
        by_estate: dict[str, Counter[str]] = {}
        for _, n in notices:
            by_estate.setdefault(n.estate, Counter())[n.severity.value] += 1
        levels = SEVERITY[lang]
        lines = []
        for estate, counts in by_estate.items():
            mix = "，".join(f"{levels[s]} {counts[s]}" for s in levels if counts[s])
            total, name = sum(counts.values()), self.estate_name(estate)
            if lang == "zh-CN":
                lines.append(f"+{total} 条告警（{name}）：{mix}")
            else:
                lines.append(f"+{total} more alarms in {name}: {mix.replace('，', ', ')}")
        top = sorted(notices, key=lambda p: -RANK[p[1].severity])[:5]
        lines += [
            f"- {levels[n.severity.value]} {self.estate_name(n.estate)} {self.what(n, lang)}"[:120]
            for _, n in top
        ]
        link = f"{self.console}/#/alarms"
        lines.append(f"[{LABELS[lang]['link']}]({link})")
        count = len(notices)
        title = f"【汇总】另有 {count} 条通知" if lang == "zh-CN" else f"[digest] {count} more notifications"
        variables = {
            "estate": "、".join(self.estate_name(e) for e in by_estate)[:20],
            "place": "多处" if lang == "zh-CN" else "several",
            "alarm": f"{count}条告警汇总" if lang == "zh-CN" else f"{count} alarms",
            "level": levels[worst.value],
            "time": self.local_time(notices[0][1].estate, at, lang),
        }
        body: dict[str, Any] = {
            "type": "digest",
            "event_id": digest_id,
            "event_ids": [event_id for event_id, _ in notices],
            "count": count,
            "by_estate": {e: dict(c) for e, c in by_estate.items()},
            "link": link,
        }
        return Message(title, "\n".join(lines), Severity(worst), link, variables, body)


def _line(label: str, value: str, lang: str) -> str:
    return f"> {label}：{value}" if lang == "zh-CN" else f"> {label}: {value}"
