"""Small helpers kept at pyensign's import paths (``utils.rlid``, ``utils.ulid``,
``utils.pbtime``, ``utils.cache``, ``utils.topics``)."""
