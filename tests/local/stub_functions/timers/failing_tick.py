"""Stub scheduled function that fails every run (its runs go to the on-failure queue)."""


def handler(event, context):
    raise RuntimeError("the sweep broke")
