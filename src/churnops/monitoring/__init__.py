"""Monitoring: a time window of served predictions compared with the champion's training data."""
