"""`make bench`: the performance budgets of issue "Performance", measured in one run.

Every figure is measured here, in this process or in fresh interpreters it starts, and
printed beside its budget; ratios are taken within one run so that machine noise
cancels. See docs/performance.md for the latest table and how to read it.
"""
