"""Customer-comment analysis: the comments contract, the LLM analysis, its prompt, baseline, store and evaluation."""
