"""Feishu (飞书) / Lark: events over the long connection or HTTP, cards, sending through the API."""
