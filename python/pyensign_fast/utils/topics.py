"""pyensign's import path for the topic cache (``pyensign.utils.topics.TopicCache``)."""

from pyensign_fast.topics import TopicCache

__all__ = ["TopicCache"]
