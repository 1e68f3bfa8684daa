"""Notifications: pure formatting of reports into Slack blocks, and the Slack sender."""
