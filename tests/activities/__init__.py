"""Tests of the follow-through activities and the task store."""
