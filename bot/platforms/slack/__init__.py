"""Slack: the Bolt app (events, commands, buttons, modals), wire conversion and the sending port."""
