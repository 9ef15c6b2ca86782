"""Batch scoring on Spark (`churnops score --engine spark`): the driver in `scoring.py`, the Python workers' side in `partitions.py`.

Above batch_scoring (it reuses its endpoint and run layout), below the entry points; needs the spark extra.
"""
