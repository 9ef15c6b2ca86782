"""The logged model artifact: one writer, many readers (API, batch scoring, monitoring, front end, Spark)."""
